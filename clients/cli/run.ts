/** Entry of the `dispatch` command (bin.js loads this file through tsx). */
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`dispatch: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode ??= 1;
}
// Commands end by returning; sockets' reconnect timers and the like must not keep the process up.
process.exit(process.exitCode ?? 0);
