/* test_table.c - table_row_line(): one table row as one line, headers carried. */
#include "common/common.h"
#include "ingest/table.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void expect_row(const table_header *h, const char *const *cells, size_t n,
                       const char *want)
{
    char *got = table_row_line(h, cells, n);
    if (!want) {
        cr_expect_null(got, "got '%s'", got ? got : "");
    } else {
        cr_assert_not_null(got);
        cr_expect_str_eq(got, want);
    }
    free(got);
}

Test(table, cells_carry_their_column_header)
{
    table_header h = {0};
    const char *head[] = {"(in millions)", "2018", "2017"};
    table_header_add_row(&h, head, 3);
    const char *row[] = {"Purchases of property, plant and equipment", "(1,577)", "(1,373)"};
    expect_row(&h, row, 3, "Purchases of property, plant and equipment | 2018: (1,577) | 2017: (1,373)");
    table_header_free(&h);
}

Test(table, no_header_joins_cells)
{
    const char *row[] = {"Name", "Value", "Unit"};
    expect_row(NULL, row, 3, "Name | Value | Unit");
    table_header empty = {0};
    expect_row(&empty, row, 3, "Name | Value | Unit");
}

Test(table, empty_cells_are_left_out_with_their_header)
{
    table_header h = {0};
    const char *head[] = {"", "2018", "2017", "2016"};
    table_header_add_row(&h, head, 4);
    const char *row[] = {"Revenue", "", "  ", "12"};
    expect_row(&h, row, 4, "Revenue | 2016: 12");
    const char *section[] = {"Cash flows from investing activities:", NULL, "", ""};
    expect_row(&h, section, 4, "Cash flows from investing activities:");
    const char *blank[] = {"", NULL, " \n"};
    expect_row(&h, blank, 3, NULL);
    /* No label: the first non-empty cell still carries its header. */
    const char *nolabel[] = {"", "7", "", ""};
    expect_row(&h, nolabel, 4, "2018: 7");
    table_header_free(&h);
}

Test(table, white_space_in_cells_collapses)
{
    const char *row[] = {"  Net\n income\t ", "1,000\r\n"};
    expect_row(NULL, row, 2, "Net income | 1,000");
}

Test(table, multi_row_headers_combine_per_column)
{
    table_header h = {0};
    /* "Year ended December 31" spans both year columns: passed once per column. */
    const char *top[] = {"", "Year ended December 31", "Year ended December 31"};
    const char *bottom[] = {"(in millions)", "2018", "2017"};
    table_header_add_row(&h, top, 3);
    table_header_add_row(&h, bottom, 3);
    cr_assert_eq(h.n_cols, 3);
    cr_expect_str_eq(h.cols[1], "Year ended December 31 2018");
    const char *row[] = {"Net sales", "$ 100", "$ 90"};
    expect_row(&h, row, 3,
               "Net sales | Year ended December 31 2018: $ 100 | Year ended December 31 2017: $ 90");
    /* The same part on the row below is written once. */
    const char *again[] = {"", "2018", "2017"};
    table_header_add_row(&h, again, 3);
    cr_expect_str_eq(h.cols[2], "Year ended December 31 2017");
    char *line = table_header_line(&h);
    cr_expect_str_eq(line, "(in millions) | Year ended December 31 2018 | Year ended December 31 2017");
    free(line);
    table_header_free(&h);
    table_header_free(NULL);
}

Test(table, header_colon_and_cells_equal_to_header)
{
    table_header h = {0};
    const char *head[] = {"Item", "Amount:", "2017"};
    table_header_add_row(&h, head, 3);
    /* An amount that reads like its year is still an amount under it. */
    const char *row[] = {"Fee", "5", "2017"};
    expect_row(&h, row, 3, "Fee | Amount: 5 | 2017: 2017");
    /* More cells than header columns: the extra ones are bare. */
    const char *wide[] = {"Fee", "5", "x", "extra"};
    expect_row(&h, wide, 4, "Fee | Amount: 5 | 2017: x | extra");
    table_header_free(&h);
}

Test(table, header_line_of_empty_header_is_null)
{
    table_header h = {0};
    const char *head[] = {"", " "};
    table_header_add_row(&h, head, 2);
    cr_expect_null(table_header_line(&h));
    cr_expect_null(table_header_line(NULL));
    table_header_free(&h);
}

Test(table, chinese_cells)
{
    table_header h = {0};
    const char *head[] = {"项目", "2023年", "2022年"};
    table_header_add_row(&h, head, 3);
    const char *row[] = {"营业收入", "1,234", "1,100"};
    expect_row(&h, row, 3, "营业收入 | 2023年: 1,234 | 2022年: 1,100");
    table_header_free(&h);
}
