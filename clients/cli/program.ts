/** The `dispatch` command: tokens, simulated drivers and riders, load tests, the demo. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Id } from '../../protocol/index.js';
import { DEV_JWT_SECRET } from '../../server/config.js';
import { demoCommand } from './commands/demo.js';
import { driversCommand } from './commands/drivers.js';
import { loadCommand } from './commands/load.js';
import { rideCommand } from './commands/ride.js';
import { signToken } from './token.js';

/** The `dispatch` program with every command. */
export function buildProgram(): Command {
  const program = new Command('dispatch').description('Taxi dispatch command-line tools').showHelpAfterError();
  program
    .command('token')
    .description('print a JWT for a simulated user')
    .addOption(new Option('--role <role>', 'user role').choices(['passenger', 'driver', 'admin']).makeOptionMandatory())
    .requiredOption('--id <id>', 'user id (1-64 chars of A-Z a-z 0-9 _ -)', (v) => {
      if (!Id.safeParse(v).success) throw new InvalidArgumentError('must be 1-64 chars of A-Z a-z 0-9 _ -');
      return v;
    })
    .option('--ttl <ttl>', 'lifetime, e.g. 30m, 1h, 7d', '1h')
    .addOption(new Option('--secret <secret>', 'HS256 secret').env('JWT_SECRET').default(DEV_JWT_SECRET, 'the development secret'))
    .action(async (o: { role: 'passenger' | 'driver' | 'admin'; id: string; ttl: string; secret: string }) => {
      process.stdout.write(`${await signToken(o.secret, o.id, o.role, o.ttl)}\n`);
    });
  program.addCommand(driversCommand());
  program.addCommand(rideCommand());
  program.addCommand(loadCommand());
  program.addCommand(demoCommand());
  return program;
}
