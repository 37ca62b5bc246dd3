#!/usr/bin/env node
// `dispatch` launcher: runs the TypeScript CLI through tsx (a runtime dependency), in this process,
// so Ctrl-C and SIGTERM reach the command itself and it can stop cleanly.
import { register } from 'tsx/esm/api';

register();
await import('./run.ts');
