/* keeps vstor_testlib non-empty before helpers exist */
int vstor_testlib_placeholder_symbol_;
