/**
 * Compile-time only: the shapes figures.ts and alert-rules.ts declare for themselves (so node can
 * type-check them without Preact) stay those of contract.ts. Nothing here runs.
 */
import type { ConsoleConfig, ConsoleState, SummarySample } from './contract.js';
import type { ConsoleConfig as RuleConfig, ConsoleState as RuleState } from './alert-rules.js';
import type { SummarySample as FigureSample } from './figures.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const SAMPLE_SAME: Same<SummarySample, FigureSample> = true;
export const STATE_FITS: ConsoleState extends RuleState ? true : false = true;
export const CONFIG_FITS: ConsoleConfig extends RuleConfig ? true : false = true;
