//! A registry: the one table from a component's `type` to the function reading its options.
//!
//! Each component kind (providers, exporters, layers) has one static [`Registry`]. Reading a
//! table looks its `type` up there and hands the table to that type's reader, so a type is
//! known exactly when it has a reader: there is no list of names to keep in step with a
//! `match`, and no fallback arm that could read one type as another. The reader returns the
//! type's options, which build their component themselves (a method of the kind's trait,
//! such as [`ExporterSpec::build`](super::ExporterSpec::build)), so options read for one type
//! can only ever build that type.
//!
//! Adding a component is one module (the component, its options struct, their reader and
//! builder) and one line in its kind's table.

use super::reader::Table;

/// One component type: its `type` name and its reader.
///
/// `S` is the kind's trait object (`dyn ExporterSpec`); the reader returns the options it
/// read, boxed, or `None` when they had problems (recorded in the table).
pub(crate) struct Registration<S: ?Sized + 'static> {
    /// The value of `type` that selects this component.
    pub(crate) name: &'static str,
    /// Reads the rest of the component's table.
    pub(crate) read: fn(&mut Table<'_, '_>) -> Option<Box<S>>,
}

/// Every component type of one kind.
pub(crate) struct Registry<S: ?Sized + 'static> {
    /// What the components are, for messages: `exporter`, `provider`, `layer`.
    pub(crate) kind: &'static str,
    /// The types, in the order messages list them.
    pub(crate) entries: &'static [Registration<S>],
}

impl<S: ?Sized> Registry<S> {
    /// The `type` names, in table order.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|entry| entry.name).collect()
    }

    /// The registration of a component table's `type` (`default` when absent, or required when
    /// there is no default). `None` when the type is missing or unknown: the problem, listing
    /// the known types, is recorded.
    pub(crate) fn lookup(
        &self,
        table: &mut Table<'_, '_>,
        default: Option<&'static str>,
    ) -> Option<&'static Registration<S>> {
        let names = self.names().join(", ");
        let why = format!("the {} type, one of {names}", self.kind);
        let name = match default {
            Some(default) if !table.present("type") => default.to_owned(),
            _ => table.required::<String>("type", &why)?,
        };
        let entries: &'static [Registration<S>] = self.entries;
        let entry = entries.iter().find(|entry| entry.name == name);
        if entry.is_none() {
            table.issue(
                "type",
                format!(
                    "unknown {} type {name:?}; expected one of {names}",
                    self.kind
                ),
            );
        }
        entry
    }
}
