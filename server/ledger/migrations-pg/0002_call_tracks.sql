CREATE TABLE "call_tracks" (
	"call_id" text NOT NULL,
	"gen" integer NOT NULL,
	"seq" integer NOT NULL,
	"driver_id" text NOT NULL,
	"lat" double precision NOT NULL,
	"lng" double precision NOT NULL,
	"at" timestamp(3) with time zone NOT NULL,
	CONSTRAINT "call_tracks_call_id_gen_seq_pk" PRIMARY KEY("call_id","gen","seq")
);
