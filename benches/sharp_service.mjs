// benches/sharp_service.mjs — the process benches/trace_report.sh reads with PROGRAM=sharp: a
// node:http service whose route resizes images with sharp (libvips, on its own threads and the
// libuv pool), loaded with REQUESTS requests through every format sharp writes here, then
// left running with its allocations traced. Prints `ready <pid>` and waits until its standard
// input closes.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const sharp = require('sharp');
const requests = Number(process.argv[2] ?? 200);
const formats = ['png', 'jpeg', 'webp', 'raw'];
const input = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 100, b: 50 } } })
  .png()
  .toBuffer();

const server = http.createServer(async (req, res) => {
  const format = formats[Number(new URL(req.url ?? '/', 'http://x').searchParams.get('i')) % formats.length];
  const out = await sharp(input).resize(320, 240).blur(1.5).toFormat(format).toBuffer();
  res.end(out);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const get = (i) =>
  new Promise((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', path: `/?i=${i}`, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
for (let i = 0; i < requests; i += 8) await Promise.all(Array.from({ length: Math.min(8, requests - i) }, (_, j) => get(i + j)));
console.log(`ready ${process.pid}`);
process.stdin.resume();
process.stdin.on('end', () => {
  agent.destroy();
  server.close();
});
