// Runs `redis-server <args>` for server/embedded-redis.ts and makes sure it never outlives the
// server that started it. redis-server is stopped (SIGTERM: it flushes its AOF and exits) when
//   - this process gets SIGTERM, SIGINT or SIGHUP (the server's stop, or its exit hook), or
//   - stdin ends: stdin is a pipe from the server, and the kernel closes the server's end when the
//     server is gone for whatever reason, kill -9 included.
// This process exits when redis-server does, with its exit code.
import { spawn } from 'node:child_process';

const redis = spawn('redis-server', process.argv.slice(2), { stdio: 'ignore' });
const stop = () => {
  if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGTERM');
};
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
redis.on('error', (err) => {
  process.stderr.write(`redis-watchdog: ${err.message}\n`);
  process.exit(1);
});
redis.on('exit', (code) => process.exit(code ?? 1));
