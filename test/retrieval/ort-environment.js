/**
 * Jest's node environment runs tests in a separate V8 context, so typed arrays made by native
 * addons (onnxruntime-node outputs) fail `instanceof Float32Array` inside onnxruntime-common.
 * This environment shares the host realm's typed-array constructors with the test context.
 * Use with a `@jest-environment ./test/retrieval/ort-environment.js` docblock.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = ['ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array',
  'Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array', 'Buffer'];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
