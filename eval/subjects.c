/* subjects.c - C-Eval's 52 subjects: Chinese name and category.
 *
 * Copied from C-Eval's subject mapping (as shipped in LLaMA-Factory's
 * evaluation/ceval/mapping.json, /work/shared/eval/ceval-subjects.json), so a
 * run needs no data file beside the binary. Sorted by key for bsearch.
 */
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

const char *const eval_categories[EVAL_N_CATEGORIES] = {"STEM", "Social Science", "Humanities",
                                                        "Other"};

static const eval_subject_info subjects[] = {
    {"accountant", "注册会计师", 3},
    {"advanced_mathematics", "高等数学", 0},
    {"art_studies", "艺术学", 2},
    {"basic_medicine", "基础医学", 3},
    {"business_administration", "工商管理", 1},
    {"chinese_language_and_literature", "中国语言文学", 2},
    {"civil_servant", "公务员", 3},
    {"clinical_medicine", "临床医学", 3},
    {"college_chemistry", "大学化学", 0},
    {"college_economics", "大学经济学", 1},
    {"college_physics", "大学物理", 0},
    {"college_programming", "大学编程", 0},
    {"computer_architecture", "计算机组成", 0},
    {"computer_network", "计算机网络", 0},
    {"discrete_mathematics", "离散数学", 0},
    {"education_science", "教育学", 1},
    {"electrical_engineer", "注册电气工程师", 0},
    {"environmental_impact_assessment_engineer", "环境影响评价工程师", 3},
    {"fire_engineer", "注册消防工程师", 3},
    {"high_school_biology", "高中生物", 0},
    {"high_school_chemistry", "高中化学", 0},
    {"high_school_chinese", "高中语文", 2},
    {"high_school_geography", "高中地理", 1},
    {"high_school_history", "高中历史", 2},
    {"high_school_mathematics", "高中数学", 0},
    {"high_school_physics", "高中物理", 0},
    {"high_school_politics", "高中政治", 1},
    {"ideological_and_moral_cultivation", "思想道德修养与法律基础", 2},
    {"law", "法学", 2},
    {"legal_professional", "法律职业资格", 2},
    {"logic", "逻辑学", 2},
    {"mao_zedong_thought", "毛泽东思想和中国特色社会主义理论体系概论", 1},
    {"marxism", "马克思主义基本原理", 1},
    {"metrology_engineer", "注册计量师", 0},
    {"middle_school_biology", "初中生物", 0},
    {"middle_school_chemistry", "初中化学", 0},
    {"middle_school_geography", "初中地理", 1},
    {"middle_school_history", "初中历史", 2},
    {"middle_school_mathematics", "初中数学", 0},
    {"middle_school_physics", "初中物理", 0},
    {"middle_school_politics", "初中政治", 1},
    {"modern_chinese_history", "近代史纲要", 2},
    {"operating_system", "操作系统", 0},
    {"physician", "医师资格", 3},
    {"plant_protection", "植物保护", 3},
    {"probability_and_statistics", "概率统计", 0},
    {"professional_tour_guide", "导游资格", 2},
    {"sports_science", "体育学", 3},
    {"tax_accountant", "税务师", 3},
    {"teacher_qualification", "教师资格", 1},
    {"urban_and_rural_planner", "注册城乡规划师", 3},
    {"veterinary_medicine", "兽医学", 0},
};

static int cmp_key(const void *key, const void *item)
{
    return strcmp(key, ((const eval_subject_info *)item)->key);
}

const eval_subject_info *eval_subject_find(const char *key)
{
    return bsearch(key, subjects, sizeof subjects / sizeof *subjects, sizeof *subjects, cmp_key);
}
