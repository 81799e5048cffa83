//! The body of a streamed response: Server-Sent Events (`data: JSON\n\n` ... `data: [DONE]\n\n`)
//! formatted as the job events arrive.
//!
//! The body owns the receiving end of the request's event channel. When the client disconnects,
//! hyper drops the body, the receiver goes with it, and the backend sees its sink closed and stops
//! the jobs: that is the whole cancellation path. A deadline ends the stream with an error event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{Instant, Sleep};

use crate::backend::Event;
use crate::error::ApiError;
use crate::generation::StreamState;

/// An SSE response body.
pub struct SseBody {
    state: StreamState,
    rx: UnboundedReceiver<(usize, Event)>,
    out: VecDeque<Bytes>,
    deadline: Pin<Box<Sleep>>,
    timeout_s: u64,
    done: bool,
}

impl SseBody {
    /// A body that streams `rx` through `state` until every choice is done or `deadline`.
    pub fn new(
        mut state: StreamState,
        rx: UnboundedReceiver<(usize, Event)>,
        deadline: Instant,
        timeout_s: u64,
    ) -> Self {
        let out = state.opening().into_iter().map(Bytes::from).collect();
        SseBody { state, rx, out, deadline: Box::pin(tokio::time::sleep_until(deadline)), timeout_s, done: false }
    }

    fn push(&mut self, frames: Vec<String>) {
        self.out.extend(frames.into_iter().map(Bytes::from));
        if self.state.is_complete() {
            self.done = true;
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if let Some(b) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some((i, ev))) => {
                    let frames = this.state.event(i, ev);
                    this.push(frames);
                    continue;
                }
                Poll::Ready(None) => {
                    let frames =
                        this.state.fail(&ApiError::internal("The backend ended a generation without finishing it."));
                    this.push(frames);
                    continue;
                }
                Poll::Pending => {}
            }
            if this.deadline.as_mut().poll(cx).is_ready() {
                let frames = this.state.fail(&ApiError::timeout(this.timeout_s));
                this.push(frames);
                continue;
            }
            return Poll::Pending;
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
