/*
 * gortd_noplugin - a test shared object that is not a plugin: it loads
 * fine but exports no gort_plugin_v1, for test_gortd, which expects the
 * load to be refused with an error that says so.
 *
 * Built as $(B)/tests/plugins/libgortd_noplugin.so.
 */
__attribute__((visibility("default"))) int noplugin_answer(void);

int noplugin_answer(void)
{
    return 42;
}
