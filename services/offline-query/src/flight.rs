//! Arrow Flight on the same port: `DoGet` with a ticket from
//! `OfflineQueryService` streams the result; `GetFlightInfo` and `GetSchema`
//! take a descriptor whose command is such a ticket. Writing (`DoPut`,
//! `DoExchange`), actions and listing are not part of this service.

use std::{pin::Pin, sync::Arc};

use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
    encode::FlightDataEncoderBuilder, error::FlightError, flight_service_server::FlightService,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use featurestore_query_engine::QueryError;

use crate::{caller::Caller, error::OfflineError, grpc::schema_bytes, query::Server};

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[derive(Debug, Clone)]
pub struct OfflineFlight {
    server: Arc<Server>,
}

impl OfflineFlight {
    pub fn new(server: Arc<Server>) -> Self {
        Self { server }
    }
}

fn unsupported(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what} is not offered: plan with OfflineQueryService, then DoGet the ticket"
    ))
}

fn ticket_of(descriptor: &FlightDescriptor) -> Result<Vec<u8>, Status> {
    if descriptor.cmd.is_empty() {
        return Err(Status::invalid_argument(
            "descriptor.cmd: the ticket from OfflineQueryService",
        ));
    }
    Ok(descriptor.cmd.to_vec())
}

impl OfflineFlight {
    async fn schema_of(
        &self,
        ticket: &[u8],
        caller: &Caller,
    ) -> Result<arrow_schema::SchemaRef, Status> {
        Ok(self.server.plan_ticket(ticket, caller).await?.schema)
    }
}

#[tonic::async_trait]
impl FlightService for OfflineFlight {
    type HandshakeStream = Boxed<HandshakeResponse>;
    type ListFlightsStream = Boxed<FlightInfo>;
    type DoGetStream = Boxed<FlightData>;
    type DoPutStream = Boxed<PutResult>;
    type DoActionStream = Boxed<arrow_flight::Result>;
    type ListActionsStream = Boxed<ActionType>;
    type DoExchangeStream = Boxed<FlightData>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("Handshake (no authentication is configured)"))
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("ListFlights"))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = Caller::of(&request);
        let descriptor = request.into_inner();
        let ticket = ticket_of(&descriptor)?;
        let schema = self.schema_of(&ticket, &caller).await?;
        let info = FlightInfo {
            schema: schema_bytes(&schema)?.into(),
            flight_descriptor: Some(descriptor),
            endpoint: vec![FlightEndpoint {
                ticket: Some(Ticket {
                    ticket: ticket.into(),
                }),
                ..FlightEndpoint::default()
            }],
            total_records: -1,
            total_bytes: -1,
            ordered: true,
            app_metadata: Default::default(),
        };
        Ok(Response::new(info))
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("PollFlightInfo"))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let ticket = ticket_of(request.get_ref())?;
        let schema = self.schema_of(&ticket, &Caller::of(&request)).await?;
        Ok(Response::new(SchemaResult {
            schema: schema_bytes(&schema)?.into(),
        }))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let caller = Caller::of(&request);
        let stream = self.server.run(&request.get_ref().ticket, &caller).await?;
        let schema = stream.schema();
        // Failures mid-stream (a sort out of memory, storage gone) reach the
        // client as the same statuses as before the first batch.
        let server = self.server.clone();
        let batches = stream
            .inspect_ok(move |batch| crate::metrics::streamed(batch, server.spill_bytes()))
            .map_err(|e| {
                let failure = OfflineError::from(QueryError::from(e));
                FlightError::Tonic(Box::new(failure.into()))
            });
        let data = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(|e| match e {
                FlightError::Tonic(status) => *status,
                other => Status::internal(other.to_string()),
            });
        Ok(Response::new(data.boxed()))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("DoPut"))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("DoAction"))
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Ok(Response::new(futures::stream::empty().boxed()))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        featurestore_runtime::authz::check_listing(&request)?;
        Err(unsupported("DoExchange"))
    }
}
