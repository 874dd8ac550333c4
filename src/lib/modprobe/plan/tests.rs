//! Tests of the load list and the removal procedure against a model kernel.
