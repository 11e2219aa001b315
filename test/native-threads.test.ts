// Native threads (issue 12): sharp's image work, done on libvips' own threads and on the libuv
// pool, shows up in the rows the README's "Native threads" section promises instead of `core`.
import { describe, expect, it } from 'vitest';
import { PRELUDE, evaluate } from './fixtures/api-run';

/** The image: W x H pixels, 3 bytes each (RGB), resized to half its width and height. */
const W = 1024;
const H = 768;
const INPUT_PIXEL_BYTES = W * H * 3;
const OUTPUT_PIXEL_BYTES = (W / 2) * (H / 2) * 3;
/** Requests measured, after one to warm up (libvips' start-up, the pool's marking). */
const N = 8;

describe('native threads', () => {
  it('a_sharp_route_charges_its_pixel_work_to_libvips_workers_and_the_pool_not_core', () => {
    // A node:http route resizes an uncompressed PNG of W x H to raw pixels with sharp (from
    // npm, its prebuilt libvips). Counted over N requests:
    // - thread:libvips worker: libvips decodes and shrinks the image in tiles on its worker
    //   threads, so every input pixel passes through buffers they allocate: at least
    //   N x INPUT_PIXEL_BYTES. Measured 1.8x that (tiles overlap for the resampling kernel, and
    //   the PNG rows are buffered too); the test allows up to 3x.
    // - threadpool: sharp's Execute step runs on the libuv pool, where
    //   vips_image_write_to_memory allocates the output pixels: at least N x
    //   OUTPUT_PIXEL_BYTES. Measured 1.3x (the pipeline's set-up too); up to 3x allowed.
    // - core grows by less than a quarter of the input pixels (measured about 280 KiB a
    //   request, the in-process client and the sockets): with main's build it takes all of
    //   the libvips workers' bytes, 4.6 MB a request.
    const out = evaluate(`${PRELUDE}
      const sharp = require('sharp');
      const http = require('node:http');
      const input = await sharp({ create: { width: ${W}, height: ${H}, channels: 3, background: { r: 200, g: 100, b: 50 } } })
        .png({ compressionLevel: 0 }).toBuffer();
      const server = http.createServer(async (req, res) => {
        const pixels = await sharp(input).resize(${W / 2}, ${H / 2}).raw().toBuffer();
        res.end(String(pixels.length));
      });
      sm.instrumentHttp(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = server.address().port;
      const get = (path) => new Promise((resolve, reject) => http.get({ port, host: '127.0.0.1', path }, (res) => {
        let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(body));
      }).on('error', reject));
      out.first = await get('/resize');
      out.pool = await sm.threadpoolAttribution();
      const rows = ['thread:libvips worker', 'threadpool', 'core'];
      // A row the build does not have reads as empty, so the assertions below say which.
      const row = (name) => scopeOf(name) ?? { kind: 'missing', counters: { alloc_bytes: 0 } };
      const before = rows.map(row);
      for (let i = 0; i < ${N}; i++) await get('/resize');
      const after = rows.map(row);
      out.allocated = Object.fromEntries(rows.map((name, i) => [name, after[i].counters.alloc_bytes - before[i].counters.alloc_bytes]));
      out.kinds = after.map((s) => s.kind);
      server.close();`);
    expect(out.first).toBe(String(OUTPUT_PIXEL_BYTES));
    expect(out.pool).toBe(4);
    expect(out.kinds).toEqual(['thread', 'pool', 'core']);
    const workers = out.allocated['thread:libvips worker'];
    expect(workers).toBeGreaterThanOrEqual(N * INPUT_PIXEL_BYTES);
    expect(workers).toBeLessThanOrEqual(3 * N * INPUT_PIXEL_BYTES);
    const pool = out.allocated.threadpool;
    expect(pool).toBeGreaterThanOrEqual(N * OUTPUT_PIXEL_BYTES);
    expect(pool).toBeLessThanOrEqual(3 * N * OUTPUT_PIXEL_BYTES);
    expect(out.allocated.core).toBeLessThan((N * INPUT_PIXEL_BYTES) / 4);
  });
});
