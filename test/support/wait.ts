/** Waiting with a deadline and a clear failure; never a fixed sleep (the dev kit's, under the tests' name). */
export { GiveUp, until } from '../../server/devkit/wait.js';
