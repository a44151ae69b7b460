//! One tower layer for the checks every request passes before a service
//! sees it (who is calling, how often): a [`Gate`] admits a request,
//! possibly annotating it, or refuses it with the status the client gets.

use std::task::{Context, Poll};

use futures::future::BoxFuture;

/// A check on every request.
pub trait Gate: Clone + Send + Sync + 'static {
    /// `Ok` lets the request through (with what the gate added to its
    /// extensions); `Err` answers it with that status, unrun.
    fn admit<B>(&self, request: &mut http::Request<B>) -> Result<(), tonic::Status>;
}

/// The layer running `G` on every request.
#[derive(Debug, Clone)]
pub struct GateLayer<G>(pub G);

impl<S, G: Gate> tower::Layer<S> for GateLayer<G> {
    type Service = Gated<S, G>;

    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            inner,
            gate: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Gated<S, G> {
    inner: S,
    gate: G,
}

impl<S, G, B> tower::Service<http::Request<B>> for Gated<S, G>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    G: Gate,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Err(status) = self.gate.admit(&mut request) {
            return Box::pin(async move { Ok(status.into_http()) });
        }
        // The clone is ready only after poll_ready; call the ready one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}
