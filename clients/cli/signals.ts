/**
 * Stop signals for long-running commands.
 *
 * Ctrl-C / SIGTERM: the first signal asks for a clean stop. `npm run` forwards the terminal's
 * SIGINT once more, so repeats within a moment are ignored; a later one asks again (commands use
 * it to cut a wait short), and a third forces the exit.
 *
 * SIGHUP (the terminal was closed): nobody is left to press Ctrl-C again, so a hang-up asks for
 * both stops at once: the command skips its waits but still cleans up (the demo still stops its
 * server and that server its private Redis). Output to the closed terminal fails from then on;
 * those write errors are ignored instead of crashing the command half-way through its clean-up.
 */
const REPEAT_WINDOW_MS = 1500;

export function onStopSignals(stop: (count: number) => void): () => void {
  let count = 0;
  let last = 0;
  const handler = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (count > 0 && now - last < REPEAT_WINDOW_MS) return;
    last = now;
    count++;
    if (count >= 3) {
      process.stderr.write(`\n${signal} again: exiting now\n`);
      process.exit(130);
    }
    stop(count);
  };
  const hangup = () => {
    for (const out of [process.stdout, process.stderr]) out.on('error', ignore);
    if (count >= 2) return; // already stopping as far as it goes
    if (count === 0) stop(++count);
    stop(++count);
    last = Date.now();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', hangup);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    process.off('SIGHUP', hangup);
  };
}

const ignore = () => undefined;

/** An AbortSignal that fires on the first stop signal (and a second one for the next). */
export function stopSignals(): { first: AbortSignal; second: AbortSignal; dispose: () => void } {
  const first = new AbortController();
  const second = new AbortController();
  const dispose = onStopSignals((n) => (n === 1 ? first : second).abort());
  return { first: first.signal, second: second.signal, dispose };
}
