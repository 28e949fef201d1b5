export { Mt19937 } from './mt19937';
export { PythonRandom, randomChannelSelection } from './python-random';
export { mulberry32 } from './mulberry32';
