/** Unit tests sit beside the code (*.spec.ts); integration and end-to-end tests live under test/. */
const swc = [
  '@swc/jest',
  { jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true } } },
];
module.exports = {
  testEnvironment: '<rootDir>/test/jest-environment.js',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: { '^@padim-fleet/(.*)$': '<rootDir>/libs/$1/src' },
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 60000,
};
