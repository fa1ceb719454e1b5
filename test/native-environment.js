/**
 * Jest's node environment runs each test file in its own V8 context, so typed arrays made by native
 * addons (onnxruntime-node outputs, tfjs-node) fail `instanceof Float32Array` checks inside the
 * sandbox. This environment shares the host realm's typed-array constructors with the test context.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array',
  'Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'Buffer'];

class NativeEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = NativeEnvironment;
