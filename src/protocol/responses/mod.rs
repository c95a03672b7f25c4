//! The OpenAI Responses API (`POST /v1/responses`): requests decoded into the canonical model,
//! answers and streams encoded from it. Providers speak Chat Completions or Messages, so a
//! Responses call is always translated.

pub mod request;
pub mod response;
pub mod stream;

pub use request::decode as decode_request;
pub use response::{encode as encode_answer, Context};
pub use stream::ResponsesEncoder;
