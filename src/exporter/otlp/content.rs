//! Prompts and completions in the structure of the GenAI conventions' JSON schemas
//! (`gen-ai-system-instructions.json`, `gen-ai-input-messages.json`,
//! `gen-ai-output-messages.json`, `gen-ai-tool-definitions.json`), serialized to JSON strings
//! as the conventions ask for span attributes when structured values are not supported.
//!
//! - system instructions: `[{"type": "text", "content": ...}]`
//! - messages: `[{"role": ..., "parts": [...]}]`, parts being
//!   `{"type": "text", "content"}`, `{"type": "tool_call", "id", "name", "arguments"}` and
//!   `{"type": "tool_call_response", "id", "response"}`
//! - output messages: like messages, plus `finish_reason` (required by the schema)
//! - tool definitions: `[{"type": "function", "name", "description", "parameters"}]`

use serde_json::{Map, Value, json};

use super::semconv::FINISH_REASON_ERROR;
use crate::{Message, Role, Tool, ToolCall, TraceRecord};

/// `gen_ai.system_instructions`: the system prompt, given to the API apart from the history.
pub(super) fn system_instructions(system_prompt: &str) -> String {
    json!([{ "type": "text", "content": system_prompt }]).to_string()
}

/// `gen_ai.input.messages`: the history, then the prompt as a user message (left out when
/// empty, as the providers do), in the order they were sent.
pub(super) fn input_messages(record: &TraceRecord) -> String {
    let mut messages: Vec<Value> = record.messages.iter().map(message).collect();
    if !record.prompt.is_empty() {
        messages.push(json!({
            "role": Role::User.as_str(),
            "parts": [text(&record.prompt)],
        }));
    }
    Value::Array(messages).to_string()
}

/// `gen_ai.output.messages`: the one answer, when there is one. A failed call's finish reason
/// is `error`; a missing one is `unknown` (the schema requires the field).
pub(super) fn output_messages(record: &TraceRecord) -> Option<String> {
    let response = record.response.as_ref()?;
    let mut parts = Vec::with_capacity(1 + response.tool_calls.len());
    if !response.content.is_empty() || response.tool_calls.is_empty() {
        parts.push(text(&response.content));
    }
    parts.extend(response.tool_calls.iter().map(tool_call));
    let finish_reason = match (&record.error, &response.finish_reason) {
        (Some(_), _) => FINISH_REASON_ERROR,
        (None, Some(reason)) => reason.as_str(),
        (None, None) => "unknown",
    };
    let output = json!([{
        "role": Role::Assistant.as_str(),
        "parts": parts,
        "finish_reason": finish_reason,
    }]);
    Some(output.to_string())
}

/// `gen_ai.tool.definitions`: the tools offered to the model.
pub(super) fn tool_definitions(tools: &[Tool]) -> String {
    let tools: Vec<Value> = tools
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            })
        })
        .collect();
    Value::Array(tools).to_string()
}

fn message(message: &Message) -> Value {
    let mut parts = Vec::with_capacity(1 + message.tool_calls.len());
    if message.role == Role::Tool {
        parts.push(json!({
            "type": "tool_call_response",
            "id": message.tool_call_id,
            "response": message.content,
        }));
    } else {
        if !message.content.is_empty() || message.tool_calls.is_empty() {
            parts.push(text(&message.content));
        }
        parts.extend(message.tool_calls.iter().map(tool_call));
    }
    json!({ "role": message.role.as_str(), "parts": parts })
}

fn text(content: &str) -> Value {
    json!({ "type": "text", "content": content })
}

fn tool_call(call: &ToolCall) -> Value {
    let mut part = Map::with_capacity(4);
    part.insert("type".into(), "tool_call".into());
    if let Some(id) = &call.id {
        part.insert("id".into(), id.as_str().into());
    }
    part.insert("name".into(), call.name.as_str().into());
    part.insert("arguments".into(), call.arguments.clone());
    Value::Object(part)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn tool_results_are_tool_call_responses_and_calls_are_tool_call_parts() {
        let mut assistant = Message::assistant("");
        let mut call = ToolCall::new("get_weather", json!({ "location": "Paris" }));
        call.id = Some("call_1".into());
        assistant.tool_calls.push(call);
        let history = [
            Message::user("Weather in Paris?"),
            assistant,
            Message::tool("call_1", "rainy, 57°F"),
        ];

        let encoded: Vec<Value> = history.iter().map(message).collect();

        assert_eq!(
            Value::Array(encoded),
            json!([
                { "role": "user", "parts": [{ "type": "text", "content": "Weather in Paris?" }] },
                { "role": "assistant", "parts": [{
                    "type": "tool_call", "id": "call_1", "name": "get_weather",
                    "arguments": { "location": "Paris" }
                }] },
                { "role": "tool", "parts": [{
                    "type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"
                }] },
            ])
        );
    }

    #[test]
    fn system_instructions_are_one_text_part() {
        assert_eq!(
            parse(&system_instructions("Be brief.")),
            json!([{ "type": "text", "content": "Be brief." }])
        );
    }

    #[test]
    fn tool_definitions_are_functions() {
        let tool = Tool::new("add", "Adds", json!({ "type": "object" }));
        assert_eq!(
            parse(&tool_definitions(&[tool])),
            json!([{
                "type": "function", "name": "add", "description": "Adds",
                "parameters": { "type": "object" }
            }])
        );
    }
}
