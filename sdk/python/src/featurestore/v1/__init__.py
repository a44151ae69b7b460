"""Generated from proto/featurestore/v1 by grpcio-tools (`make sdk-proto`);
do not edit: `make sdk-proto-check` fails when these and proto/ differ."""
