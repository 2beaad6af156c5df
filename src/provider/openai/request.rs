//! The chat completions request body.

use serde::Serialize;
use serde_json::Value;

use super::super::function_tool::FunctionTool;
use crate::{GenerateRequest, Message, Role};

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<FunctionTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    /// `null` for an assistant turn that only calls tools.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct WireToolCall<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    r#type: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    /// The arguments as JSON text, which is what the API takes.
    arguments: String,
}

impl<'a> ChatRequest<'a> {
    pub(super) fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
        let system = request.system_prompt.as_deref().map(|system| WireMessage {
            role: Role::System.as_str(),
            content: Some(system),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
        let prompt = (!request.prompt.is_empty()).then(|| WireMessage {
            role: Role::User.as_str(),
            content: Some(&request.prompt),
            tool_calls: Vec::new(),
            tool_call_id: None,
        });
        let messages = system
            .into_iter()
            .chain(request.messages.iter().map(WireMessage::from_message))
            .chain(prompt)
            .collect();
        let parameters = &request.parameters;
        Self {
            model,
            messages,
            tools: request.tools.iter().map(FunctionTool::from).collect(),
            temperature: parameters.temperature,
            max_tokens: parameters.output_limit(),
            seed: parameters.seed,
            top_p: parameters.top_p,
            stop: &parameters.stop,
            stream: request.stream,
            stream_options: request.stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

impl<'a> WireMessage<'a> {
    fn from_message(message: &'a Message) -> Self {
        let calls_only = message.content.is_empty() && !message.tool_calls.is_empty();
        Self {
            role: message.role.as_str(),
            content: (!calls_only).then_some(message.content.as_str()),
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: call.id.as_deref(),
                    r#type: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: arguments_text(&call.arguments),
                    },
                })
                .collect(),
            tool_call_id: message.tool_call_id.as_deref(),
        }
    }
}

/// Arguments as the JSON text the API wants; a string is taken to be that text already (it is
/// how unparseable arguments were kept).
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    }
}
