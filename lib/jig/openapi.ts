/** The jig server's HTTP API as an OpenAPI 3.0 document, served at `GET /api` (one place that says what the routes take and answer). */
import type { ServeOptions } from './serve-options';

const error = { description: 'Failure', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
const image = { type: 'string', format: 'binary' };

export function openApiDocument(opts: Pick<ServeOptions, 'k' | 'maxK' | 'limits' | 'maxUrlBytes'>, title: string): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title,
      version: '1',
      description:
        `Nearest-neighbour search over a gallery of embedded images. Uploads: at most ${opts.limits.maxBytes} bytes and ${opts.limits.maxPixels} pixels; ` +
        'JPEG, PNG, WebP, GIF, TIFF or AVIF (vector formats such as SVG and PDF are refused). Every route: 403 for a Host name that is not this server, ' +
        `414 for a request target over ${opts.maxUrlBytes} bytes, 431 for headers (a longer target included) over 16 KiB; HEAD answers every GET route.`,
    },
    paths: {
      '/api': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3 document', content: { 'application/json': { schema: { type: 'object' } } } } } } },
      '/api/search': {
        post: {
          summary: 'The gallery images nearest to an uploaded photo',
          parameters: [{ name: 'k', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: opts.maxK, default: opts.k } }],
          requestBody: {
            required: true,
            description: 'The image: raw bytes as the body (any Content-Type), or multipart/form-data with one file field (`curl -F file=@photo.jpg`)',
            content: {
              'application/octet-stream': { schema: image },
              'image/*': { schema: image },
              'multipart/form-data': { schema: { type: 'object', properties: { file: image }, required: ['file'] } },
            },
          },
          responses: {
            '200': { description: 'Matches, best first', content: { 'application/json': { schema: { $ref: '#/components/schemas/SearchResult' } } } },
            '400': error,
            '405': error,
            '403': { ...error, description: 'Another origin\'s page (Origin / Sec-Fetch-Site), or a Host name that is not this server' },
            '413': error,
            '415': error,
            '503': { ...error, description: 'Busy: every decode slot and queue place taken; retry after the Retry-After seconds', headers: { 'Retry-After': { schema: { type: 'integer' } } } },
          },
        },
      },
      '/api/gallery': {
        get: {
          summary: 'A page of gallery items',
          parameters: [
            { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 500, default: 48 } },
          ],
          responses: {
            '200': {
              description: 'Items from offset on',
              content: {
                'application/json': {
                  schema: { type: 'object', properties: { total: { type: 'integer' }, offset: { type: 'integer' }, items: { type: 'array', items: { $ref: '#/components/schemas/Item' } } } },
                },
              },
            },
            '400': error,
          },
        },
      },
      '/api/gallery/{id}': {
        get: {
          summary: 'JPEG thumbnail of one gallery item',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }],
          responses: { '200': { description: 'Thumbnail', content: { 'image/jpeg': { schema: image } } }, '400': error, '404': error },
        },
      },
      '/api/stats': {
        get: { summary: 'Index statistics, limits, served-query counters, the decoder processes (started, timedOut, cancelled, recycled, crashed) and the decode queues (running, waiting; large: the large-image lane)', responses: { '200': { description: 'Statistics', content: { 'application/json': { schema: { type: 'object' } } } } } },
      },
    },
    components: {
      schemas: {
        Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
        Item: { type: 'object', properties: { index: { type: 'integer' }, key: { type: 'string' }, label: { type: 'string' }, domain: { type: 'string' } } },
        SearchResult: {
          type: 'object',
          properties: {
            k: { type: 'integer' },
            ms: { type: 'number' },
            query: { type: 'object', properties: { format: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' } } },
            matches: { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/Item' }, { type: 'object', properties: { score: { type: 'number' } } }] } },
          },
        },
      },
    },
  };
}
