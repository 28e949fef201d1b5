import { BadRequestException, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { FleetConfig, OnlineScoreResponse } from '@padim-fleet/contracts';
import { SizeLimitError } from '@padim-fleet/storage';
import { readMultipart, rejectDeclaredLength } from '../common/multipart';
import { FLEET_CONFIG } from '../common/tokens';
import { ScoringService, UploadedImage } from './scoring.service';

/** Online requests are small: at most this many images. */
export const MAX_ONLINE_IMAGES = 64;
/** Room for the multipart framing besides the images' bytes. */
const FRAMING_SLACK_BYTES = 64 * 1024;

/**
 * The online route's admission: at most ONLINE_MAX_CONCURRENT requests are served at once (429 beyond),
 * the model is checked before the body is read (a 404 reads no image), and a request's images, held in
 * memory while they are scored, may total ONLINE_MAX_REQUEST_BYTES (413 at the first byte over). So the
 * API holds at most ONLINE_MAX_CONCURRENT × ONLINE_MAX_REQUEST_BYTES of images.
 */
@Injectable()
export class OnlineScoringService {
  private inFlight = 0;

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    private readonly scoring: ScoringService,
  ) {}

  async score(category: string, query: { version?: string; inline?: boolean }, req: Request): Promise<OnlineScoreResponse> {
    if (this.inFlight >= this.config.ONLINE_MAX_CONCURRENT) {
      throw new HttpException(
        {
          statusCode: HttpStatus.TOO_MANY_REQUESTS,
          message: `too many online scoring requests in progress (ONLINE_MAX_CONCURRENT=${this.config.ONLINE_MAX_CONCURRENT}); retry shortly`,
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    this.inFlight += 1;
    try {
      const version = await this.scoring.checkModel(category, query.version);
      rejectDeclaredLength(req, this.config.ONLINE_MAX_REQUEST_BYTES + FRAMING_SLACK_BYTES, 'images');
      const images = await readImages(req, this.config.ONLINE_MAX_REQUEST_BYTES);
      return await this.scoring.scoreOnline(category, images, { ...query, version });
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** The file parts named `images`, each whole in memory, `maxBytes` in all. */
async function readImages(req: Request, maxBytes: number): Promise<UploadedImage[]> {
  const images: UploadedImage[] = [];
  let total = 0;
  for await (const part of readMultipart(req, { files: MAX_ONLINE_IMAGES, fields: 4, fieldBytes: 1024 })) {
    if (part.kind === 'field') throw new BadRequestException(`${part.name}: unexpected field; send the images as file parts named "images"`);
    if (part.name !== 'images') throw new BadRequestException(`${part.name}: unexpected file part; send the images as file parts named "images"`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of part.stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw new SizeLimitError('images', maxBytes);
      chunks.push(chunk);
      size += chunk.length;
    }
    images.push({ originalname: part.filename, buffer: Buffer.concat(chunks, size), size });
  }
  return images;
}
