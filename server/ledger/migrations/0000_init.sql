CREATE TABLE `call_events` (
	`call_id` text NOT NULL,
	`seq` integer NOT NULL,
	`status` text NOT NULL,
	`driver_id` text,
	`at` text NOT NULL,
	`stream_id` text NOT NULL,
	PRIMARY KEY(`call_id`, `seq`)
);
--> statement-breakpoint
CREATE TABLE `calls` (
	`id` text PRIMARY KEY NOT NULL,
	`passenger_id` text NOT NULL,
	`status` text NOT NULL,
	`driver_id` text,
	`pickup_lat` real NOT NULL,
	`pickup_lng` real NOT NULL,
	`dropoff_lat` real NOT NULL,
	`dropoff_lng` real NOT NULL,
	`json` text NOT NULL,
	`seq` integer NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
