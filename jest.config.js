/** Jest runs the TypeScript sources through ts-jest; type checking is `npm run build` (tsc, strict). */
module.exports = {
  testEnvironment: '<rootDir>/test/native-environment.js', // shares typed-array constructors with native addons (onnxruntime-node, tfjs-node)
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json', diagnostics: false }] },
  testTimeout: 120000,
  maxWorkers: 2,
};
