"""The vocabulary of the demo company: a chain of bakery-cafés (烘焙咖啡连锁) across China.

Plain data only: names, places, tags, channels, campaigns; ``generator.py`` draws from it. Lists of
words are space-separated strings, to keep the file short.
"""

from __future__ import annotations


def _words(text: str) -> list[str]:
    return text.split()


def _places(text: str) -> list[tuple[str, str]]:
    """Places and their slugs: '南京路:nanjinglu 淮海路:huaihai' -> [('南京路', 'nanjinglu'), …]."""
    return [tuple(word.split(":")) for word in text.split()]


def _pairs(text: str) -> list[tuple[str, str]]:
    """Characters and their pinyin: '王Wang 李Li' -> [('王', 'Wang'), ('李', 'Li')]."""
    return [(word[0], word[1:]) for word in text.split()]


# --- People ---------------------------------------------------------------------------------------

# The commonest surnames with their pinyin, and how common each is (roughly, per thousand people).
SURNAMES = _pairs(
    "王Wang 李Li 张Zhang 刘Liu 陈Chen 杨Yang 黄Huang 赵Zhao 吴Wu 周Zhou 徐Xu 孙Sun 马Ma 朱Zhu 胡Hu 郭Guo "
    "何He 林Lin 高Gao 罗Luo 郑Zheng 梁Liang 谢Xie 宋Song 唐Tang 许Xu 韩Han 冯Feng 邓Deng 曹Cao 彭Peng "
    "曾Zeng 肖Xiao 田Tian 董Dong 潘Pan 袁Yuan 蔡Cai 蒋Jiang 余Yu 于Yu 杜Du 叶Ye 程Cheng 魏Wei 苏Su 吕Lv "
    "丁Ding 任Ren 卢Lu 姚Yao 沈Shen 钟Zhong 姜Jiang 崔Cui 谭Tan 陆Lu 范Fan 汪Wang 廖Liao 石Shi 金Jin "
    "韦Wei 贾Jia 夏Xia 方Fang 邹Zou 熊Xiong 白Bai 孟Meng 秦Qin 邱Qiu 侯Hou 江Jiang 尹Yin 薛Xue 段Duan "
    "雷Lei 龙Long 史Shi 陶Tao 贺He 毛Mao 顾Gu 龚Gong 邵Shao 万Wan 钱Qian 严Yan 孔Kong"
)
SURNAME_WEIGHTS = [
    int(n)
    for n in _words(
        "72 70 66 52 46 32 24 22 21 21 15 15 14 14 13 12 12 11 11 10 10 9 8 7 7 7 7 6 6 6 6 5 5 5 5 4 4 4 4 "
        "4 4 4 4 4 4 4 3 3 3 3 3 3 3 3 3 3 3 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 1 1 1 1 1 1 1 1 1 1 1 "
        "1"
    )
]
# Characters of given names, with their pinyin.
GIVEN_FEMALE = _pairs(
    "婷Ting 娜Na 静Jing 敏Min 丽Li 芳Fang 燕Yan 艳Yan 霞Xia 玲Ling 雪Xue 琳Lin 颖Ying 晶Jing 欣Xin 怡Yi "
    "佳Jia 悦Yue 萌Meng 梦Meng 雨Yu 晨Chen 璐Lu 瑶Yao 倩Qian 莉Li 洁Jie 慧Hui 思Si 涵Han 诗Shi 嘉Jia "
    "蕾Lei 露Lu 岚Lan 菲Fei 妍Yan 薇Wei 楠Nan 彤Tong 可Ke 馨Xin 月Yue 红Hong 秀Xiu 英Ying 梅Mei 兰Lan "
    "春Chun 小Xiao 文Wen 雅Ya 琪Qi 晓Xiao 丹Dan 娟Juan"
)
GIVEN_MALE = _pairs(
    "伟Wei 强Qiang 磊Lei 军Jun 洋Yang 勇Yong 杰Jie 涛Tao 明Ming 超Chao 辉Hui 刚Gang 平Ping 鹏Peng 华Hua "
    "飞Fei 鑫Xin 波Bo 斌Bin 宇Yu 浩Hao 凯Kai 健Jian 俊Jun 帆Fan 旭Xu 宁Ning 龙Long 林Lin 阳Yang 博Bo "
    "文Wen 志Zhi 亮Liang 毅Yi 峰Feng 晨Chen 睿Rui 泽Ze 子Zi 天Tian 一Yi 海Hai 建Jian 国Guo 振Zhen 东Dong "
    "嘉Jia 鸣Ming"
)

# WeChat nicknames: what an external contact's ``name`` usually is.
NICKNAMES = _words(
    "小鱼儿 阳光 Lily Amy Coco Vivian 快乐每一天 简单 随遇而安 岁月静好 Cherry Momo 小太阳 微笑 心若止水 "
    "向日葵 Grace Sunny Tina Jason Kevin David 晴天 月亮 柠檬 西瓜 奶茶 米粒 糖糖 果果 悠悠 乐乐 小丸子 "
    "花开富贵 平安是福 知足常乐 淡定 追梦人 大白 小白 兔子 喵喵 咖啡不加糖 一杯茶 Miss.L Mr.Chen Yuki "
    "Nancy Jenny Ivy Echo Zoe Ella Lucky Happy Angel 晓晓 婷婷 丹丹 小米 朵朵 橙子 草莓 葡萄 木子 三水 "
    "一叶知秋 海阔天空 静待花开 风轻云淡 浅笑 初心 如意 面包控 甜甜圈 芝士就是力量 爱吃蛋糕的猫 早安 "
    "晚风 南风 清风徐来 Joy Anna Emma Leo Tony Frank Alice Bella Candy Daisy Helen Iris Judy Kiki"
)
NICKNAME_DECORATIONS = _words("🌸 🍀 ☀️ 🌙 💕 🍰 ☕ 1990 88 _ ~ 呀 吖")

WOMAN, MAN = "女士", "先生"

# Companies of customers who are WeCom users of another corp (external_userid "wo…"): short, full name.
COMPANIES = [
    ("星巴克", "星巴克企业管理（中国）有限公司"),
    ("盒马", "上海盒马网络科技有限公司"),
    ("携程", "携程计算机技术（上海）有限公司"),
    ("美团", "北京三快在线科技有限公司"),
    ("万达", "大连万达商业管理集团股份有限公司"),
    ("华润万家", "华润万家有限公司"),
    ("平安银行", "平安银行股份有限公司"),
    ("招商银行", "招商银行股份有限公司"),
    ("顺丰", "顺丰控股股份有限公司"),
    ("安踏", "安踏体育用品集团有限公司"),
    ("蔚来", "上海蔚来汽车有限公司"),
    ("小红书", "行吟信息科技（上海）有限公司"),
    ("字节跳动", "北京字节跳动科技有限公司"),
    ("联想", "联想（北京）有限公司"),
    ("海底捞", "四川海底捞餐饮股份有限公司"),
    ("喜茶", "深圳美西西餐饮管理有限公司"),
]
COMPANY_POSITIONS = _words("行政专员 采购经理 人事主管 市场经理 总经理助理 工会主席 办公室主任")

# --- The organisation -----------------------------------------------------------------------------

HQ_NAME = "鲜语烘焙总部"
HQ_FUNCTIONS = ["市场部", "会员运营中心", "数字化部"]

# Areas (大区) and the cities whose regions (区域) sit under them.
AREAS = {
    "华东大区": _words("上海 杭州 南京 苏州 宁波 合肥"),
    "华南大区": _words("广州 深圳 福州 厦门"),
    "华北大区": _words("北京 天津 济南 青岛"),
    "华中大区": _words("武汉 长沙 郑州"),
    "西南大区": _words("成都 重庆 昆明"),
}
# The order regions open in, so that even a small company spans several areas.
REGION_ORDER = _words(
    "上海 广州 北京 成都 武汉 杭州 深圳 天津 重庆 长沙 南京 福州 济南 昆明 郑州 苏州 厦门 青岛 宁波 合肥"
)
# Each city's short code, used in channel states.
CITY_SLUGS = {
    "上海": "sh",
    "杭州": "hz",
    "南京": "nj",
    "苏州": "suz",
    "宁波": "nb",
    "合肥": "hf",
    "广州": "gz",
    "深圳": "sz",
    "福州": "fz",
    "厦门": "xm",
    "北京": "bj",
    "天津": "tj",
    "济南": "jn",
    "青岛": "qd",
    "武汉": "wh",
    "长沙": "cs",
    "郑州": "zz",
    "成都": "cd",
    "重庆": "cq",
    "昆明": "km",
}
# Each city's best-known shopping streets, place and slug (the slug stands alone in channel states).
LANDMARKS = {
    "上海": _places(
        "南京路:nanjinglu 淮海路:huaihai 徐家汇:xujiahui 陆家嘴:lujiazui 五角场:wujiaochang 静安寺:jingansi"
    ),
    "北京": _places("王府井:wangfujing 三里屯:sanlitun 西单:xidan 国贸:guomao 中关村:zhongguancun"),
    "广州": _places("天河城:tianhecheng 北京路:beijinglu 珠江新城:zhujiang 上下九:shangxiajiu"),
    "深圳": _places("华强北:huaqiangbei 海岸城:coastal 东门:dongmen 福田CBD:futian"),
    "杭州": _places("湖滨:hubin 武林广场:wulin 西溪:xixi"),
    "成都": _places("春熙路:chunxilu 太古里:taikooli 宽窄巷子:kuanzhai"),
    "重庆": _places("解放碑:jiefangbei 观音桥:guanyinqiao"),
    "武汉": _places("江汉路:jianghanlu 楚河汉街:hanjie 光谷:guanggu"),
    "南京": _places("新街口:xinjiekou 夫子庙:fuzimiao"),
    "长沙": _places("五一广场:wuyiguangchang IFS国金:ifs"),
    "天津": _places("滨江道:binjiangdao 五大道:wudadao"),
    "苏州": _places("观前街:guanqianjie 金鸡湖:jinjihu"),
    "厦门": _places("中山路:zhongshanlu 鼓浪屿:gulangyu"),
    "青岛": _places("台东:taidong 五四广场:wusi"),
}
# Malls found in every city: the store is "<city><mall>店", its slug "<city code>_<mall slug>".
MALLS = _places(
    "万达广场:wanda 万象城:mixc 大悦城:joycity 龙湖天街:longfor 吾悦广场:wuyue 银泰城:intime "
    "来福士:raffles 凯德广场:capita 宝龙广场:powerlong 印象城:incity 万科广场:vanke 恒隆广场:hanglung "
    "新天地:xintiandi 大融城:darong 天虹:rainbow 永辉:yonghui 砂之船:outlets K11:k11 华润广场:crland "
    "世纪金源:jinyuan"
)

POSITION_MANAGER = "店长"
POSITION_ASSISTANT_MANAGER = "副店长"
GUIDE_POSITIONS = [("导购", 70), ("高级导购", 20), ("会员专员", 10)]

# --- Corporate tags -------------------------------------------------------------------------------

# (group, tags, share of customers who carry the group, most tags of it per customer, tag weights or
# None for even). 30 groups and 300 tags; the shares give about three tags per follow.
TAG_GROUPS: list[tuple[str, list[str], float, int, list[int] | None]] = [
    ("会员等级", _words("普通会员 银卡会员 金卡会员 钻石会员"), 0.65, 1, [60, 25, 12, 3]),
    (
        "年龄段",
        _words("18岁以下 18-24岁 25-29岁 30-34岁 35-39岁 40-49岁 50岁及以上"),
        0.22,
        1,
        [3, 18, 25, 22, 15, 12, 5],
    ),
    (
        "口味偏好",
        _words("偏甜 少糖 无糖 偏咸 香辣 清淡 奶香 果味 茶香 咖啡控 巧克力控 抹茶控 芝士控 坚果控 低脂 酸甜"),
        0.18,
        2,
        None,
    ),
    (
        "渠道来源",
        _words(
            "门店扫码 收银台台卡 小程序 公众号 视频号 抖音 小红书 美团 饿了么 天猫旗舰店 京东 老客推荐 "
            "企业团购 异业合作 地推活动 短信"
        ),
        0.3,
        1,
        [30, 15, 12, 8, 5, 6, 5, 5, 3, 3, 2, 3, 1, 1, 1, 1],
    ),
    (
        "兴趣爱好",
        _words(
            "烘焙 咖啡 茶饮 健身 瑜伽 跑步 旅行 美妆 穿搭 母婴 宠物 摄影 音乐 读书 户外露营 电影 手作 "
            "花艺 游戏 追剧"
        ),
        0.18,
        3,
        None,
    ),
    (
        "消费频次",
        _words("首单客户 月均1次 月均2-3次 每周到店 高频复购 沉睡客户"),
        0.15,
        1,
        [25, 25, 20, 10, 5, 15],
    ),
    (
        "客单价",
        _words("50元以下 50-100元 100-200元 200-500元 500-1000元 1000元以上"),
        0.12,
        1,
        [20, 35, 25, 12, 5, 3],
    ),
    (
        "购买品类",
        _words(
            "吐司面包 欧包 可颂 蛋糕 慕斯 芝士蛋糕 蛋挞 甜甜圈 曲奇饼干 月饼礼盒 粽子礼盒 咖啡豆 "
            "挂耳咖啡 拿铁 美式 茶叶 鲜奶 酸奶 果汁 轻食沙拉 三明治 节日礼盒 生日蛋糕 冰淇淋 马卡龙 "
            "面包干 蛋黄酥 青团 汤圆 下午茶套餐"
        ),
        0.18,
        3,
        None,
    ),
    (
        "生日月份",
        _words(
            "1月生日 2月生日 3月生日 4月生日 5月生日 6月生日 7月生日 8月生日 9月生日 10月生日 11月生日 "
            "12月生日"
        ),
        0.09,
        1,
        None,
    ),
    ("城市等级", _words("一线城市 新一线城市 二线城市 三线城市 四线及以下"), 0.05, 1, [35, 30, 20, 10, 5]),
    (
        "职业",
        _words(
            "学生 上班族 自由职业 全职宝妈 企业主 教师 医护 程序员 设计师 公务员 销售 金融从业者 "
            "退休人员 其他"
        ),
        0.06,
        1,
        None,
    ),
    ("沟通偏好", _words("工作日白天 工作日晚上 仅周末 只接收优惠 不要打扰"), 0.04, 1, None),
    (
        "活动参与",
        _words(
            "618大促 双11 双12 会员日 新品试吃 烘焙课堂 线下沙龙 直播间下单 拼团 秒杀 积分兑换 抽奖 "
            "打卡挑战 生日礼 周年庆 开业活动"
        ),
        0.12,
        2,
        None,
    ),
    ("优惠敏感度", _words("高敏感 中敏感 低敏感"), 0.05, 1, [40, 40, 20]),
    ("客户意向", _words("高意向 中意向 低意向 已成交 已复购 已流失"), 0.06, 1, None),
    ("服务方式", _words("到店自提 外卖配送 快递到家 企业团购 预约定制 社区团购"), 0.06, 1, None),
    ("婚育状况", _words("未婚 已婚 已婚有娃 孕期 二胎家庭"), 0.04, 1, None),
    ("宝宝年龄", _words("0-1岁 1-3岁 3-6岁 6-12岁 12岁以上 备孕中"), 0.03, 1, None),
    (
        "售后记录",
        _words("有投诉 已退款 已补偿 已回访 五星好评 差评 物流问题 品质问题"),
        0.03,
        1,
        None,
    ),
    ("活跃度", _words("高活跃 中活跃 低活跃 沉默 已唤醒"), 0.06, 1, None),
    ("支付偏好", _words("微信支付 支付宝 会员卡支付 储值卡 现金"), 0.04, 1, [50, 25, 12, 10, 3]),
    ("储值余额", _words("无储值 200元以下 200-500元 500-1000元 1000元以上"), 0.04, 1, None),
    (
        "节日偏好",
        _words("春节 元宵 情人节 女神节 母亲节 父亲节 端午 七夕 中秋 国庆 圣诞 跨年"),
        0.04,
        2,
        None,
    ),
    ("社群角色", _words("群活跃分子 社群KOC 团长 潜水 新进群 已退群"), 0.05, 1, None),
    (
        "内容偏好",
        _words("新品资讯 优惠券 烘焙食谱 门店活动 会员福利 健康饮食 节日礼品 探店打卡 咖啡知识 品牌故事"),
        0.05,
        2,
        None,
    ),
    (
        "饮食禁忌",
        _words("乳糖不耐 坚果过敏 麸质敏感 素食 控糖 减脂期 清真 鸡蛋过敏 无禁忌"),
        0.04,
        1,
        None,
    ),
    ("到店时段", _words("早餐时段 午餐时段 下午茶 晚餐时段 夜宵 周末全天"), 0.04, 1, None),
    (
        "会员积分",
        _words("0-500分 500-2000分 2000-5000分 5000-10000分 10000分以上 积分即将过期"),
        0.04,
        1,
        None,
    ),
    ("风险标记", _words("羊毛党 黑名单 重复领券 恶意差评 异常下单"), 0.02, 1, [40, 15, 30, 5, 10]),
    (
        "所在城市",
        _words(
            "上海 北京 广州 深圳 杭州 南京 苏州 宁波 合肥 福州 厦门 天津 济南 青岛 武汉 长沙 郑州 成都 "
            "重庆 昆明 西安 无锡 常州 佛山 东莞 珠海 温州 绍兴 嘉兴 南昌 贵阳 南宁 石家庄 太原 沈阳 大连 "
            "哈尔滨 长春 兰州 海口"
        ),
        0.06,
        1,
        None,
    ),
]

PERSONAL_TAGS = _words("重点跟进 老客户 已到店 待回访 送过试吃 爱聊天 需要发票 生日礼已送 团购潜客")
PERSONAL_TAG_GROUP = "我的标签"

# --- Channels: (state, name, description). Each store adds "poster_<slug>" and "counter_<slug>". ---

CAMPAIGN_CHANNELS = [
    ("mp_menu", "公众号菜单", "公众号底部菜单「添加专属顾问」"),
    ("mini_member", "小程序会员中心", "小程序会员中心页的企微活码"),
    ("channels_live", "视频号直播间", "视频号直播间挂载的顾问名片"),
    ("douyin_ad", "抖音信息流广告", "抖音广告落地页获客链接"),
    ("xhs_note", "小红书笔记", "小红书笔记评论区引导加企微"),
    ("sms_coupon", "短信领券", "会员短信中的领券获客链接"),
    ("meituan_card", "美团订单卡片", "美团外卖订单内的加好友卡片"),
    ("eleme_card", "饿了么订单卡片", "饿了么订单内的加好友卡片"),
    ("tmall_package", "天猫包裹卡", "天猫旗舰店包裹内的二维码卡片"),
    ("jd_package", "京东包裹卡", "京东旗舰店包裹内的二维码卡片"),
    ("cny_2026", "2026春节礼盒", "春节礼盒预售海报"),
    ("mid618_2026", "618大促海报", "618年中大促海报"),
    ("mooncake_2026", "中秋月饼预售", "中秋月饼礼盒预售海报"),
    ("double11_2026", "双11活动海报", "双11狂欢节活动海报"),
    ("member_day", "每月会员日", "每月18日会员日活动"),
    ("referral", "老带新裂变", "老客邀请好友得券的裂变海报"),
]

# Campaign messages that reach customers over the year: (month, day, title, state of its channel).
BROADCASTS = [
    (1, 1, "元旦快乐｜新年第一口甜，全场面包第二件半价", ""),
    (1, 20, "春节礼盒预售开启，早鸟立减30元", "cny_2026"),
    (2, 14, "情人节限定｜双人心形慕斯上新", ""),
    (3, 8, "女神节｜会员专享8折券已到账", ""),
    (3, 18, "会员日｜积分兑换曲奇礼盒", "member_day"),
    (4, 10, "春日限定｜樱花系列新品上市", ""),
    (5, 1, "五一出游，下午茶套餐9.9元抢", ""),
    (5, 10, "母亲节｜为妈妈定制一只蛋糕", ""),
    (6, 1, "618年中大促预热：满199减40", "mid618_2026"),
    (6, 18, "618当天｜咖啡豆买一送一", "mid618_2026"),
    (7, 18, "会员日｜夏日冰淇淋第二支0元", "member_day"),
    (8, 8, "七夕｜玫瑰荔枝蛋糕限量预订", ""),
    (8, 25, "中秋月饼预售开启，企业团购9折", "mooncake_2026"),
    (9, 10, "教师节｜为老师送上一份下午茶", ""),
    (9, 28, "国庆出行，门店自提免排队", ""),
    (10, 18, "会员日｜秋季新品栗子系列尝鲜", "member_day"),
    (10, 25, "双11预热：领取满299减60神券", "double11_2026"),
    (11, 11, "双11当天｜全场8折，储值再送20%", "double11_2026"),
    (11, 18, "会员日｜生日月会员专享双倍积分", "member_day"),
    (12, 12, "双12｜年度好物清单，限时秒杀", ""),
    (12, 24, "平安夜｜圣诞树根蛋糕开订", ""),
]

# Campaign weeks with extra adds: (month, day they start, how many days, how much busier).
PEAKS = [
    (1, 20, 18, 1.8),
    (6, 1, 18, 2.2),
    (8, 25, 20, 1.6),
    (10, 25, 18, 2.6),
    (2, 14, 1, 1.5),
    (3, 8, 1, 1.5),
]

# What the stores sell: product and price in yuan.
PRODUCTS = [
    ("生椰拿铁", 22),
    ("美式咖啡", 16),
    ("海盐奶盖可颂", 18),
    ("原味吐司", 15),
    ("全麦欧包", 19),
    ("芝士蛋糕", 32),
    ("提拉米苏", 35),
    ("草莓慕斯", 38),
    ("葡式蛋挞", 8),
    ("巧克力甜甜圈", 12),
    ("黄油曲奇礼盒", 68),
    ("流心月饼礼盒", 198),
    ("挂耳咖啡10片装", 59),
    ("手冲咖啡豆250g", 88),
    ("鲜奶吐司", 18),
    ("蛋黄酥", 9),
    ("抹茶麻薯", 14),
    ("6寸生日蛋糕", 168),
    ("8寸生日蛋糕", 238),
    ("下午茶双人套餐", 58),
    ("三明治", 21),
    ("轻食沙拉", 29),
    ("酸奶碗", 26),
    ("冰美式", 18),
    ("桂花乌龙", 16),
    ("企业下午茶套餐", 399),
]

GROUP_TAGS = _words("新品群 VIP群 福利群 售后群 宝妈群 烘焙课堂群 企业团购群 秒杀群 咖啡爱好者")
# (kind, name patterns with {store} and {n}, share of groups): the seeds' activity, service and sales groups.
GROUP_KINDS = [
    (
        "activity",
        _words(
            "{store}福利{n}群 {store}秒杀{n}群 {store}新品试吃{n}群 {store}会员日{n}群 {store}烘焙课堂{n}群"
        ),
        30,
    ),
    (
        "service",
        _words(
            "{store}VIP服务{n}群 {store}会员{n}群 {store}售后服务群{n} {store}宝妈交流{n}群 "
            "{store}咖啡爱好者{n}群"
        ),
        40,
    ),
    (
        "sales",
        _words("{store}生日蛋糕预订{n}群 {store}企业团购{n}群 {store}月饼团购{n}群 {store}预售接龙{n}群"),
        30,
    ),
]
GROUP_NOTICES = [
    "欢迎加入！每周三新品上架，群内会员专享9折，下单请@群主。",
    "本群为门店会员服务群，营业时间 8:00-22:00，订蛋糕请提前一天预约。",
    "群内禁止发广告，违者移出。每月18日会员日福利准时发放。",
    "",
]

NOTES = [
    "客户周末常来，喜欢低糖款，已推荐新品。",
    "生日在下个月，记得提前送生日券。",
    "企业客户，每月有下午茶团购需求，联系人为行政。",
    "对坚果过敏，推荐时注意避开。",
    "上次蛋糕配送延迟，已补偿优惠券，后续注意安抚。",
    "宝妈，关注儿童款点心，可邀请进宝妈群。",
    "咖啡重度用户，可推荐咖啡豆订阅。",
    "已办理储值卡，余额较多，可邀请参加会员日。",
    "对价格敏感，优先推送优惠活动。",
    "住在门店附近，经常早上买早餐。",
]
FOLLOW_DESCRIPTIONS = _words(
    "喜欢低糖款 周末到店 企业团购联系人 生日蛋糕老客 咖啡爱好者 宝妈，孩子3岁 住门店附近 储值会员 "
    "外卖为主 对价格敏感"
)
