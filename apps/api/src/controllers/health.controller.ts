import { Controller, Get, HttpException } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/api-key.guard';
import { HealthService } from '../services/health.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Public()
  @Get('healthz')
  healthz() {
    return { status: 'ok' };
  }

  /** Public, so it says only ready or not: where the store is and why it fails are for /v1/health and the logs. */
  @Public()
  @Get('readyz')
  async readyz() {
    const report = await this.health.report();
    if (report.status !== 'ready') throw new HttpException({ status: report.status }, 503);
    return { status: report.status };
  }

  @Get('v1/health')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Readiness with its details: Redis, its eviction policy, the store; 503 when not ready' })
  async details() {
    const report = await this.health.report();
    if (report.status !== 'ready') throw new HttpException(report, 503);
    return report;
  }
}
