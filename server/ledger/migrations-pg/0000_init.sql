CREATE TABLE "call_assignments" (
	"call_id" text NOT NULL,
	"gen" integer NOT NULL,
	"driver_id" text NOT NULL,
	"seq" integer NOT NULL,
	"at" timestamp(3) with time zone NOT NULL,
	CONSTRAINT "call_assignments_call_id_gen_pk" PRIMARY KEY("call_id","gen")
);
--> statement-breakpoint
CREATE TABLE "call_events" (
	"call_id" text NOT NULL,
	"seq" integer NOT NULL,
	"status" text NOT NULL,
	"driver_id" text,
	"at" timestamp(3) with time zone NOT NULL,
	"stream_id" text NOT NULL,
	CONSTRAINT "call_events_call_id_seq_pk" PRIMARY KEY("call_id","seq")
);
--> statement-breakpoint
CREATE TABLE "calls" (
	"id" text PRIMARY KEY NOT NULL,
	"passenger_id" text NOT NULL,
	"status" text NOT NULL,
	"driver_id" text,
	"pickup_lat" double precision NOT NULL,
	"pickup_lng" double precision NOT NULL,
	"dropoff_lat" double precision NOT NULL,
	"dropoff_lng" double precision NOT NULL,
	"json" json NOT NULL,
	"seq" integer NOT NULL,
	"created_at" timestamp(3) with time zone NOT NULL,
	"updated_at" timestamp(3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "calls_created_idx" ON "calls" USING btree ("created_at","id");--> statement-breakpoint
CREATE INDEX "calls_updated_idx" ON "calls" USING btree ("updated_at","id");