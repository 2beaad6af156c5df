//! The `function` tool declaration of OpenAI's chat API, which Ollama's copies.

use serde::Serialize;
use serde_json::Value;

use crate::Tool;

/// `{"type": "function", "function": {"name", "description", "parameters"}}`.
#[derive(Debug, Serialize)]
pub(crate) struct FunctionTool<'a> {
    r#type: &'static str,
    function: Function<'a>,
}

#[derive(Debug, Serialize)]
struct Function<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

impl<'a> From<&'a Tool> for FunctionTool<'a> {
    fn from(tool: &'a Tool) -> Self {
        Self {
            r#type: "function",
            function: Function {
                name: &tool.name,
                description: &tool.description,
                parameters: &tool.parameters,
            },
        }
    }
}
