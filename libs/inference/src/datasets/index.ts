// The dataset layouts are defined in contracts, so that planning a run (the API) lists them without the inference stack.
export {
  IMAGE_EXTENSIONS,
  type LabelledImage,
  isDirectory,
  isImageFileName,
  listFolderFiles,
  listImagesRecursive,
  listMvtecTestSet,
  resolveTrainingFiles,
} from '@padim-fleet/contracts';
