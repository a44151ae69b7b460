"""Reads an offline-query result the way a data scientist would, with
pyarrow.flight: GetFlightInfo on the ticket (as a command descriptor), then
DoGet on the endpoint it names. Prints the table as JSON on stdout.

    read_flight.py HOST:PORT TICKET_HEX
"""
import json
import sys

import pyarrow.flight as flight


def main() -> None:
    address, ticket_hex = sys.argv[1], sys.argv[2]
    client = flight.connect(f"grpc://{address}")
    descriptor = flight.FlightDescriptor.for_command(bytes.fromhex(ticket_hex))
    info = client.get_flight_info(descriptor)
    table = client.do_get(info.endpoints[0].ticket).read_all()
    if table.schema != info.schema:
        raise SystemExit(f"schema mismatch: {table.schema} vs {info.schema}")
    print(
        json.dumps(
            {
                "num_rows": table.num_rows,
                "columns": table.column_names,
                "data": table.to_pydict(),
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
