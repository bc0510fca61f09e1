/* placeholder so the layer library links before its sources land */
int vstor_placeholder_port_;
