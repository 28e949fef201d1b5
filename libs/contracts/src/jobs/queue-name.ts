export enum QueueName {
  Extract = 'extract',
  Reduce = 'reduce',
  Score = 'score',
  /** Completion callbacks (DeliverCallback): served by every worker process whose PADIM_CALLBACK_HOSTS lists hosts. */
  Callbacks = 'callbacks',
}

export enum JobName {
  ExtractFeatures = 'ExtractFeatures',
  FitGaussian = 'FitGaussian',
  ScoreImages = 'ScoreImages',
  PrepareScoring = 'PrepareScoring',
  ScoreChunk = 'ScoreChunk',
  AssembleScoring = 'AssembleScoring',
  SweepOnlineResults = 'SweepOnlineResults',
  AbortStaleWrites = 'AbortStaleWrites',
  PrepareTraining = 'PrepareTraining',
  DeliverCallback = 'DeliverCallback',
}
