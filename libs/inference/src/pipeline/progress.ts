export interface ProgressEvent {
  stage: 'extract' | 'finalize' | 'threshold' | 'validate' | 'score' | 'evaluate';
  done: number;
  total: number;
}

export type ProgressListener = (event: ProgressEvent) => void;
