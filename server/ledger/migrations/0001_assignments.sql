CREATE TABLE `call_assignments` (
	`call_id` text NOT NULL,
	`gen` integer NOT NULL,
	`driver_id` text NOT NULL,
	`seq` integer NOT NULL,
	`at` text NOT NULL,
	PRIMARY KEY(`call_id`, `gen`)
);
