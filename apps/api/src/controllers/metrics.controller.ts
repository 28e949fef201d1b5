import { Controller, Get, Header } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiMetrics, METRICS_CONTENT_TYPE } from '@padim-fleet/fleet';
import { ApiResponses } from '../common/api-responses';

@ApiTags('metrics')
@ApiBearerAuth()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: ApiMetrics) {}

  /** Behind the API keys like every route but the probes: Prometheus sends `Authorization: Bearer <key>`. */
  @Get('metrics')
  @Header('Content-Type', METRICS_CONTENT_TYPE)
  @ApiResponses({ status: 200, produces: [METRICS_CONTENT_TYPE], description: "Prometheus' text exposition format" }, [401])
  @ApiOperation({ summary: 'Prometheus metrics: queue depths, HTTP requests by route and status, online scoring latency, process metrics' })
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
