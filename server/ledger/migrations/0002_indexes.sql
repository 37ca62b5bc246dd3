CREATE INDEX `calls_created_idx` ON `calls` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `calls_updated_idx` ON `calls` (`updated_at`,`id`);