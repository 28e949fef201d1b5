export * from './image-folder';
export * from './image-reader';
export * from './mvtec';
