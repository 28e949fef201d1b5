export enum QueueName {
  Extract = 'extract',
  Reduce = 'reduce',
  Score = 'score',
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
}
