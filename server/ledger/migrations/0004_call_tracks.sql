CREATE TABLE `call_tracks` (
	`call_id` text NOT NULL,
	`gen` integer NOT NULL,
	`seq` integer NOT NULL,
	`driver_id` text NOT NULL,
	`lat` real NOT NULL,
	`lng` real NOT NULL,
	`at` text NOT NULL,
	PRIMARY KEY(`call_id`, `gen`, `seq`)
);
