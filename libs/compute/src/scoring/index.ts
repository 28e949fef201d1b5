export * from './output-names';
export * from './score-row';
export * from './score-to-store';
