import { DynamicModule, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { LoggerModule } from 'nestjs-pino';
import { FleetConfig, QueueName, s3Connection } from '@padim-fleet/contracts';
import { ApiMetrics, FleetLogger, RedisRegistryLock, ScoringRuns, TrainingRuns, createRequestRedis } from '@padim-fleet/fleet';
import { BlobStore, ModelRegistry, openBlobStore } from '@padim-fleet/storage';
import { ApiKeyGuard } from './common/api-key.guard';
import { QueueBoard } from './common/queue-board';
import { IdempotencyInterceptor } from './common/idempotency.interceptor';
import { RedisReadyGuard } from './common/redis-ready.guard';
import { DomainErrorsFilter } from './common/domain-errors.filter';
import { BLOB_STORE, FLEET_CONFIG, REDIS } from './common/tokens';
import { HealthController } from './controllers/health.controller';
import { MetricsController } from './controllers/metrics.controller';
import { ModelsController } from './controllers/models.controller';
import { ScoringController } from './controllers/scoring.controller';
import { TrainingsController } from './controllers/trainings.controller';
import { HealthService } from './services/health.service';
import { ModelsService } from './services/models.service';
import { OnlineScoringService } from './services/online-scoring.service';
import { ScoringService } from './services/scoring.service';
import { TrainingsService } from './services/trainings.service';

/** Closes the connections the API opened, when Nest shuts down. */
@Injectable()
class ConnectionsCloser implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly runs: TrainingRuns,
    private readonly scorings: ScoringRuns,
    private readonly metrics: ApiMetrics,
    private readonly board: QueueBoard,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // With Redis down, closing the queues would wait for a connection that is not coming.
    if (this.redis.status !== 'ready') this.redis.disconnect();
    await Promise.all([this.runs.close(), this.scorings.close(), this.metrics.close(), this.board.close()]);
    await this.redis.quit().catch(() => this.redis.disconnect());
    await this.store.close?.();
  }
}

@Module({})
export class ApiModule {
  static forConfig(config: FleetConfig, logger: FleetLogger): DynamicModule {
    return {
      module: ApiModule,
      // pino-http runs as the app's first middleware (createApiApp); this binds each request's logger for Nest's Logger.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger }, useExisting: true })],
      controllers: [HealthController, TrainingsController, ModelsController, ScoringController, MetricsController],
      providers: [
        { provide: FLEET_CONFIG, useValue: config },
        { provide: BLOB_STORE, useFactory: () => openBlobStore(config.PADIM_STORE, s3Connection(config), (message) => new Logger('api').warn(message)) },
        { provide: REDIS, useFactory: () => createRequestRedis(config.REDIS_URL, 'padim-api') },
        {
          provide: ModelRegistry,
          useFactory: (store: BlobStore, redis: Redis) => new ModelRegistry(store, { lock: new RedisRegistryLock(redis, config.PADIM_QUEUE_PREFIX) }),
          inject: [BLOB_STORE, REDIS],
        },
        {
          provide: TrainingRuns,
          useFactory: (redis: Redis, store: BlobStore) =>
            new TrainingRuns(redis, config.PADIM_QUEUE_PREFIX, store, { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS }),
          inject: [REDIS, BLOB_STORE],
        },
        {
          provide: ScoringRuns,
          useFactory: (redis: Redis) => new ScoringRuns(redis, config.PADIM_QUEUE_PREFIX, { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS }),
          inject: [REDIS],
        },
        {
          provide: ApiMetrics,
          // The queue depths are read through Queues of their own on the request connection: a scrape fails fast while Redis is out.
          useFactory: (redis: Redis) =>
            new ApiMetrics(Object.values(QueueName).map((name) => new Queue(name, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX }))),
          inject: [REDIS],
        },
        TrainingsService,
        HealthService,
        RedisReadyGuard,
        IdempotencyInterceptor,
        ModelsService,
        ScoringService,
        OnlineScoringService,
        QueueBoard,
        ConnectionsCloser,
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: DomainErrorsFilter },
      ],
    };
  }
}
