//! The `/api/chat` request body.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::super::function_tool::FunctionTool;
use crate::{GenerateRequest, Message, Role};

/// The body of `POST /api/chat`.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<FunctionTool<'a>>,
    #[serde(skip_serializing_if = "WireOptions::is_empty")]
    options: WireOptions<'a>,
    stream: bool,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct WireToolCall<'a> {
    function: WireFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: Cow<'a, Value>,
}

#[derive(Debug, Serialize, Default)]
struct WireOptions<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_predict: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
}

impl WireOptions<'_> {
    fn is_empty(&self) -> bool {
        self.temperature.is_none()
            && self.num_predict.is_none()
            && self.seed.is_none()
            && self.top_p.is_none()
            && self.top_k.is_none()
            && self.stop.is_empty()
    }
}

impl<'a> ChatRequest<'a> {
    pub(super) fn new(model: &'a str, request: &'a GenerateRequest) -> Self {
        // Ollama matches a tool result to its call by the tool's name, not by an id.
        let names: HashMap<&str, &str> = request
            .messages
            .iter()
            .flat_map(|message| &message.tool_calls)
            .filter_map(|call| Some((call.id.as_deref()?, call.name.as_str())))
            .collect();
        let system = request
            .system_prompt
            .as_deref()
            .map(|system| WireMessage::text(Role::System, system));
        let prompt =
            (!request.prompt.is_empty()).then(|| WireMessage::text(Role::User, &request.prompt));
        let messages = system
            .into_iter()
            .chain(
                request
                    .messages
                    .iter()
                    .map(|m| WireMessage::from_message(m, &names)),
            )
            .chain(prompt)
            .collect();
        let parameters = &request.parameters;
        Self {
            model,
            messages,
            tools: request.tools.iter().map(FunctionTool::from).collect(),
            options: WireOptions {
                temperature: parameters.temperature,
                num_predict: parameters.output_limit(),
                seed: parameters.seed,
                top_p: parameters.top_p,
                top_k: parameters.top_k,
                stop: &parameters.stop,
            },
            stream: request.stream,
        }
    }
}

impl<'a> WireMessage<'a> {
    fn text(role: Role, content: &'a str) -> Self {
        Self {
            role: role.as_str(),
            content,
            tool_calls: Vec::new(),
            tool_name: None,
        }
    }

    fn from_message(message: &'a Message, names: &HashMap<&str, &'a str>) -> Self {
        let tool_name = match message.role {
            Role::Tool => message
                .tool_call_id
                .as_deref()
                .and_then(|id| names.get(id).copied()),
            _ => None,
        };
        Self {
            tool_calls: message
                .tool_calls
                .iter()
                .map(|call| WireToolCall {
                    function: WireFunctionCall {
                        name: &call.name,
                        // Ollama wants an object; a call recorded without arguments had none.
                        arguments: match &call.arguments {
                            Value::Null => Cow::Owned(Value::Object(Map::new())),
                            arguments => Cow::Borrowed(arguments),
                        },
                    },
                })
                .collect(),
            tool_name,
            ..Self::text(message.role, &message.content)
        }
    }
}
