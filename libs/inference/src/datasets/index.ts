export * from './image-folder';
export * from './mvtec';
