import { Controller, Get, HttpException } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthReport, healthReport, liveness, readiness } from '@padim-fleet/contracts';
import { ApiResponses } from '../common/api-responses';
import { Public } from '../common/api-key.guard';
import { openApiSchema } from '../common/json-schema';
import { HealthService } from '../services/health.service';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  @Public()
  @Get('healthz')
  @ApiResponses({ status: 200, schema: liveness, description: 'The process answers' }, [])
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Public, so it says only ready or not: where the store is and why it fails are for /v1/health and the logs. */
  @Public()
  @Get('readyz')
  @ApiResponses({ status: 200, schema: readiness, description: 'Ready' }, [])
  @ApiResponse({ status: 503, description: 'Not ready', schema: openApiSchema(readiness, 'output') })
  async readyz(): Promise<{ status: HealthReport['status'] }> {
    const report = await this.health.report();
    if (report.status !== 'ready') throw new HttpException({ status: report.status }, 503);
    return { status: report.status };
  }

  @Get('v1/health')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Readiness with its details: Redis, its eviction policy, the store; 503 when not ready' })
  @ApiResponses({ status: 200, schema: healthReport, description: 'Ready, with the details' }, [401])
  @ApiResponse({ status: 503, description: 'Not ready, with the reasons', schema: openApiSchema(healthReport, 'output') })
  async details(): Promise<HealthReport> {
    const report = await this.health.report();
    if (report.status !== 'ready') throw new HttpException(report, 503);
    return report;
  }
}
