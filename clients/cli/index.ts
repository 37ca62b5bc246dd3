/** What other code (a benchmark harness, tests) may use from the CLI: the load runner and the simulated users. */
export { runLoad, DEFAULT_CENTER, type LoadOptions, type LoadProgress } from './sim/load.js';
export { formatReport, invariantsHold, type LoadReport, type Percentiles } from './report.js';
export { SimDriver, type DriverObserver, type DriverOptions } from './sim/driver.js';
export { DriverFleet, type FleetOptions } from './sim/fleet.js';
export { SimRider, type RiderObserver, type RideResult } from './sim/rider.js';
export { RoundRobin } from './options.js';
