"""What residents say: a catalogue of everyday problems and the ways people phrase them.

A complaint is composed from a *problem* (what is wrong, and which category it truly belongs
to), the *facts* of one incident (where, which lamp, since when) and a phrasing (how this
caller, on this channel, tells it). Two reports of the same incident share the facts and the
core sentence but are told differently; two incidents of one problem on one road differ in the
facts (house number, lamp number, 小区). That is what the router's classifier and duplicate
detector are up against.

The true category of every text is known here, so the simulated units can tell a misrouted case
(and return it) from their own work, and the report can measure the router.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

XIAOQU = (
    "幸福里", "金海湾", "海景苑", "银滩花园", "富丽华庭", "锦绣家园", "椰林花园", "阳光城",
    "北部湾花园", "海珠新村", "东方丽景", "红树林雅苑", "翠湖居", "南珠广场", "贵州新村",
    "长青苑", "香榭里", "港湾新城", "世纪名城", "滨海嘉园", "西湾家园", "永安里", "和谐家园",
    "桂园", "水电宿舍", "粮食局宿舍", "供销社宿舍", "老车站宿舍",
)
LANDMARKS = (
    "菜市场", "公交站", "幼儿园", "小学", "农贸市场", "超市", "银行", "卫生服务站",
    "加油站", "公园", "停车场", "十字路口", "转角", "天桥", "老邮局",
)
SHOPS = (
    "阿强烧烤", "老友粉店", "海鲜大排档", "鸿运酒楼", "湘味小炒", "兄弟KTV", "好又多超市",
    "美丽发廊", "健身会所", "蛋糕店", "汽修店", "快递驿站", "奶茶店", "麻辣烫店", "水果店",
)
FOODS = ("牛奶", "面包", "饮料", "速冻饺子", "熟食", "月饼", "奶粉", "腊肠")
GYMS = ("健身房", "理发店", "游泳馆", "美容院", "培训机构", "洗车店", "早教中心")
SURNAMES = (
    "李", "王", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
    "郭", "何", "林", "罗", "梁", "宋", "郑", "谢", "韦", "庞", "莫", "覃", "蒙", "钟", "邓",
)
GIVEN = ("建国", "秀英", "海燕", "志强", "丽华", "德明", "春梅", "文军", "桂芳", "小燕",
         "伟", "敏", "静", "磊", "婷", "杰", "娟", "强", "芳", "勇", "玉兰", "家豪")
CN_NUM = ("一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
DURATIONS = ("两天", "三天", "好几天", "一个星期", "半个月", "一个多月", "快两个月")
NIGHT = ("晚上十一点", "晚上十二点", "凌晨一点", "凌晨两点", "半夜")


@dataclass(frozen=True)
class Problem:
    """One kind of problem residents report, with its true category (docs/configuration.md codes)."""

    key: str
    category: str
    weight: float  # relative frequency on an ordinary day
    cores: tuple[str, ...]  # the fact, one phrasing per variant; {slots} come from the incident
    impacts: tuple[str, ...] = ()
    requests: tuple[str, ...] = ("希望尽快处理。", "请相关部门管一管。", "麻烦派人来看看。")
    appeal: tuple[str, ...] = ("投诉",)
    concern: tuple[float, float, float] = (0.5, 0.5, 0.0)  # worry, trouble, anguish
    urgent_p: float = 0.0  # chance an incident is told as an emergency
    urgent_cores: tuple[str, ...] = ()
    second_report_p: float = 0.0  # chance someone else reports the same incident too
    police: tuple[str, str] | None = None  # (警情类别, 子类) when 110 hands such cases over
    surge_weight: float = 0.0  # relative frequency on a storm day
    walkin: bool = True  # told at a 解忧超市 counter too
    hours: str = "day"  # "day" | "night" | "any": when it tends to be reported


@dataclass
class Incident:
    """One thing that happened at one place; one or more reports tell of it."""

    number: int
    problem: Problem
    slots: dict[str, str]
    address: str
    core: int  # which phrasing of the fact
    urgent: bool
    reports: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.problem.category


P = Problem
PROBLEMS: tuple[Problem, ...] = (
    # ---- 市政设施 municipal -------------------------------------------------------------
    P("streetlight", "municipal", 9.0,
      ("{spot}的路灯{lamp_state}", "{road}{n}号附近编号{lamp}的路灯{lamp_state}",
       "{xiaoqu}小区门口那段路，路灯{lamp_state}"),
      ("晚上黑漆漆的，老人小孩出门容易摔跤。", "晚上走路看不清，很不安全。",
       "下晚班回家都不敢走那段路。", ""),
      second_report_p=0.18, surge_weight=1.0, hours="any"),
    P("manhole", "municipal", 4.0,
      ("{spot}有个井盖{manhole_state}", "{road}{n}号门前人行道上的井盖{manhole_state}"),
      ("车一压就哐当响，晚上吵得睡不着。", "小孩放学都从那里走，太危险了。", ""),
      second_report_p=0.12, urgent_p=0.05,
      urgent_cores=("{spot}的井盖不见了，已经有电动车掉进去，路面有塌陷",)),
    P("road", "municipal", 4.0,
      ("{road}{seg}路面坑坑洼洼，下雨全是水坑", "{road}{seg}的道路破损好久了，一直没人修",
       "{spot}人行道砖松动翘起来了"),
      ("骑电动车经过差点摔倒。", "老人走路绊了好几次。", ""),
      requests=("希望尽快修复道路。", "请市政部门安排维修。", "麻烦派人来看看。"),
      second_report_p=0.08),
    P("drain", "municipal", 4.0,
      ("{xiaoqu}小区下水道堵了，污水冒到路面上", "{spot}的排水沟堵塞，一下雨就积水",
       "{road}{n}号门口下水道反味，污水横流"),
      ("臭得不行，夏天蚊子苍蝇特别多。", "走路都要绕着走。", ""),
      second_report_p=0.10, surge_weight=2.0),
    P("flooding", "municipal", 0.5,
      ("暴雨过后{road}{seg}积水很深，排水不畅", "{xiaoqu}小区地下车库进水了，排水泵不工作",
       "{spot}积水没过膝盖，下水道排不出去"),
      ("车都开不过去，行人只能蹚水。", "好多车泡在水里了。", "老人出不了门。"),
      requests=("请赶紧派人来排水！", "希望马上处理。", "快派人来抽水。"),
      appeal=("求助",), concern=(0.1, 0.6, 0.3), second_report_p=0.35, surge_weight=9.0,
      hours="any"),
    P("fallen_tree", "municipal", 0.2,
      ("台风把{spot}的大树刮倒了，横在道路上", "{road}{n}号门口一棵大树倒了，压住了人行道",
       "{xiaoqu}小区里的树被风吹断，树枝挡住了道路"),
      ("车过不去，人也过不去。", "压坏了好几辆电动车。", ""),
      requests=("请尽快派人清理。", "希望马上处理，太危险了。"),
      appeal=("求助",), concern=(0.1, 0.6, 0.3), urgent_p=0.2,
      urgent_cores=("{spot}大树倒下砸断了电线，电线掉落在路上还冒火花",),
      second_report_p=0.40, surge_weight=8.0, hours="any"),
    # ---- 城市管理 city_management ---------------------------------------------------------
    P("street_vendor", "city_management", 5.0,
      ("{spot}每天有小摊贩占道经营", "{road}{landmark}门口摆摊的占了整条人行道",
       "{spot}的烧烤摊占道经营到半夜"),
      ("行人只能走到马路上，很危险。", "垃圾扔得到处都是。", "堵得车都过不去。"),
      second_report_p=0.08, hours="any"),
    P("illegal_building", "city_management", 3.0,
      ("{xiaoqu}小区{b}楼顶有人违章搭建", "{road}{n}号一楼住户私自扩建院子，属于违建",
       "{xiaoqu}小区有人在绿化带上违建铁皮房"),
      ("影响采光，也有安全隐患。", "物业管不了，说要找执法部门。", ""),
      appeal=("举报", "投诉"), second_report_p=0.06),
    P("garbage", "city_management", 5.0,
      ("{spot}的垃圾{days}没人清运了", "{xiaoqu}小区门口垃圾堆成山，环卫没来收",
       "{road}{landmark}旁边有人乱堆建筑垃圾"),
      ("臭气熏天，苍蝇老鼠到处跑。", "天一热味道大得受不了。", ""),
      second_report_p=0.10, surge_weight=1.5),
    P("billboard", "city_management", 1.0,
      ("{road}{n}号楼上的广告牌松动了，摇摇晃晃", "{spot}的广告牌被风吹歪了"),
      ("怕掉下来砸到人。", ""),
      second_report_p=0.15, surge_weight=3.0),
    # ---- 生态环境 environment -------------------------------------------------------------
    P("cooking_fumes", "environment", 4.0,
      ("楼下{shop}的油烟直接排到居民楼里", "{road}{n}号{shop}油烟太大，窗户都不敢开",
       "{xiaoqu}小区临街的{shop}每天油烟熏人"),
      ("衣服晒不了，家里全是油味。", "老人有哮喘，受不了。", ""),
      second_report_p=0.10),
    P("construction_noise", "environment", 4.5,
      ("{spot}的工地{night}还在施工，噪音太大", "{road}{seg}施工扰民，{night}还在打桩",
       "{xiaoqu}小区旁边工地夜间施工，噪声特别大"),
      ("孩子要高考，根本睡不着。", "老人心脏不好，吵得血压都高了。", "第二天还要上班。"),
      second_report_p=0.15, hours="night"),
    P("ktv_noise", "environment", 2.0,
      ("{road}的{shop}每天唱到{night}，噪音扰民", "楼下{shop}音响开得很大，噪声扰民"),
      ("一整晚睡不着觉。", "报警了也没用，过几天又照旧。", ""),
      second_report_p=0.08, hours="night"),
    P("pollution", "environment", 1.5,
      ("{road}{seg}有工厂偷偷往河里排污", "{spot}有股刺鼻的异味，像是化工厂排放的",
       "{xiaoqu}小区附近的小作坊排污，水沟都变黑了"),
      ("闻了头晕恶心。", "担心对身体有影响。", ""),
      appeal=("举报", "投诉"), second_report_p=0.12),
    # ---- 住房物业 housing -----------------------------------------------------------------
    P("elevator", "housing", 4.0,
      ("{xiaoqu}小区{b}的电梯三天两头坏", "{xiaoqu}小区{b}电梯{days}没修好了",
       "{xiaoqu}小区电梯经常突然停运"),
      ("老人住十几楼，上下楼太困难了。", "物业一直拖着不修。", ""),
      urgent_p=0.06, urgent_cores=("{xiaoqu}小区{b}电梯突然停了，有人被困在里面",),
      second_report_p=0.12),
    P("property_mgmt", "housing", 4.0,
      ("{xiaoqu}小区物业不作为，楼道灯坏了没人管", "{xiaoqu}小区物业乱收费，涨价也不公示",
       "{xiaoqu}小区物业服务太差，保安经常不在岗"),
      ("业主们意见很大。", "交了物业费却没人服务。", ""),
      appeal=("投诉",), second_report_p=0.05),
    P("house_repair", "housing", 2.5,
      ("{xiaoqu}小区{b}楼顶漏水，申请维修基金一直没批", "住的是{xiaoqu}小区老房子，外墙瓷砖往下掉",
       "{xiaoqu}小区{b}楼道墙体开裂，房屋维修没人管"),
      ("下雨家里就漏水。", "怕砸到路过的人。", ""),
      appeal=("求助", "投诉")),
    # ---- 公共服务 utilities ---------------------------------------------------------------
    P("water_outage", "utilities", 3.5,
      ("{xiaoqu}小区从昨天开始停水，没有任何通知", "{road}{n}号一带停水了，也不知道什么时候来水",
       "{xiaoqu}小区供水水压太低，楼上根本没水"),
      ("做饭洗澡都成问题。", "家里有老人小孩，太不方便了。", ""),
      appeal=("求助", "投诉"), second_report_p=0.30, surge_weight=3.0, hours="any"),
    P("power_outage", "utilities", 3.0,
      ("{xiaoqu}小区停电{hours_off}了", "{road}{n}号一带突然停电，到现在还没来电",
       "{xiaoqu}小区{b}电压不稳，电器都烧坏了"),
      ("冰箱里的东西都坏了。", "家里有老人，天太热受不了。", "晚上黑灯瞎火的。"),
      appeal=("求助", "投诉"), concern=(0.3, 0.6, 0.1), urgent_p=0.08,
      urgent_cores=("{spot}电线掉落在地上，还在打火，有漏电危险",),
      second_report_p=0.35, surge_weight=14.0, hours="any"),
    P("gas", "utilities", 1.5,
      ("{xiaoqu}小区燃气{days}没恢复供气", "{xiaoqu}小区燃气费收费有问题，想咨询一下"),
      ("没法做饭。", ""),
      appeal=("求助", "咨询"), urgent_p=0.25,
      urgent_cores=("{xiaoqu}小区{b}楼道里燃气味很重，怀疑燃气泄漏",
                    "{road}{n}号楼下有煤气泄漏的味道"),
      second_report_p=0.2, hours="any"),
    # ---- 交通运输 transport ---------------------------------------------------------------
    P("bus", "transport", 3.0,
      ("{bus}公交车经常不按点发车，一等就是半小时", "{bus}公交车司机态度很差，还不等人上车就关门",
       "{road}的公交站取消了，老人坐车很不方便"),
      ("上班天天迟到。", "希望增加班次。", ""),
      appeal=("投诉", "建议")),
    P("taxi", "transport", 1.5,
      ("在{road}打出租车被拒载", "网约车司机绕路多收钱，投诉没人理"),
      ("希望严肃处理。", ""), appeal=("投诉",), walkin=False),
    P("traffic_light", "transport", 2.0,
      ("{road}和{road2}路口的红绿灯坏了", "{spot}的信号灯时间太短，老人过不了马路",
       "{road}{seg}乱停车太严重，车道都堵死了"),
      ("很容易出事故。", "上下班高峰堵得一动不动。", ""),
      second_report_p=0.2, surge_weight=1.5),
    # ---- 市场监管 market ------------------------------------------------------------------
    P("prepaid_card", "market", 3.0,
      ("在{road}的{gym}办了预付卡，现在老板跑路了", "{road}{n}号{gym}关门了，预付卡里还有钱退不了",
       "{road}的{gym}不给退款，卡里还剩{money}"),
      ("很多人都被骗了。", "找不到负责人。", ""),
      appeal=("投诉", "举报"), second_report_p=0.15),
    P("food_safety", "market", 2.0,
      ("在{road}的{shop}买的{food}过期了", "{spot}有家{shop}卫生很差，吃完拉肚子，怀疑食品有问题",
       "在{road}{landmark}买到假货，商家拒绝退款"),
      ("商家态度恶劣。", "希望市场监管部门查一查。", ""),
      appeal=("投诉", "举报")),
    P("price", "market", 1.0,
      ("{road}{landmark}的摊位乱涨价，价格不明码标价", "{shop}结账的价格和标价不一样"),
      ("坑老百姓。", ""), appeal=("投诉",)),
    # ---- 劳动社保 labour ------------------------------------------------------------------
    P("unpaid_wages", "labour", 3.5,
      ("在{road}一个工地干活，老板欠了{months}个月工资不给", "{road}{n}号的公司拖欠工资{months}个月了",
       "之前在{shop}打工，离职后工资一直没结"),
      ("家里等着钱用。", "找老板好几次都推脱。", "一起干活的还有十几个工友。"),
      appeal=("求助", "投诉"), concern=(0.2, 0.5, 0.3), police=("纠纷", "劳资纠纷")),
    P("social_security", "labour", 2.5,
      ("想咨询社保怎么转移到北海", "公司一直没给交社保，想问问怎么办",
       "就业创业补贴申请了半年还没到账"),
      ("跑了好几趟都说不清楚。", ""),
      appeal=("咨询", "求助"), concern=(0.8, 0.2, 0.0)),
    # ---- 教育 education -------------------------------------------------------------------
    P("school_place", "education", 2.5,
      ("孩子今年上小学，户口在{xiaoqu}小区，学校说学位不够", "孙子的入学手续办不下来，学校不给报名",
       "孩子转学的事问了好几个部门都不管"),
      ("马上开学了，很着急。", ""),
      appeal=("求助", "咨询"), concern=(0.6, 0.4, 0.0), walkin=True),
    P("training", "education", 1.0,
      ("{road}的校外培训机构老师上课体罚孩子", "{road}{n}号培训机构没有资质还在招生"),
      ("家长都很担心。", ""), appeal=("投诉", "举报")),
    # ---- 医疗卫生 health ------------------------------------------------------------------
    P("hospital", "health", 2.0,
      ("在医院看病排队一上午，医生态度还很差", "{road}{landmark}旁边的诊所无证行医",
       "医保报销的比例和说的不一样，想咨询一下"),
      ("希望卫健部门管一管。", ""), appeal=("投诉", "咨询")),
    # ---- 民政 civil_affairs ---------------------------------------------------------------
    P("subsistence", "civil_affairs", 3.0,
      ("家里老人七十多岁没人照顾，想申请低保", "想问问高龄补贴怎么申请，需要什么材料",
       "家里有残疾人，申请救助一直没有结果"),
      ("生活很困难。", "跑了几趟都没办下来。", ""),
      appeal=("求助", "咨询"), concern=(0.4, 0.3, 0.3)),
    P("elderly_care", "civil_affairs", 1.5,
      ("{xiaoqu}小区的养老服务站一直没开", "独居老人在家摔倒没人发现，希望社区多关注",
       "想给父亲找个养老院，不知道有哪些补助"),
      ("", "子女都在外地。"), appeal=("求助", "建议"), concern=(0.5, 0.2, 0.3)),
    # ---- 公安 public_security -------------------------------------------------------------
    P("hukou", "public_security", 1.5,
      ("想咨询户口迁移需要什么材料", "身份证丢了补办要多久", "孩子上户口的事一直办不下来"),
      ("",), appeal=("咨询",), concern=(0.9, 0.1, 0.0)),
    P("fraud", "public_security", 1.5,
      ("接到电话冒充客服，被诈骗了{money}", "{road}有人在推销保健品，专骗老人，怀疑诈骗",
       "{xiaoqu}小区晚上经常有人聚众喝酒闹事，治安很差"),
      ("希望警方重视。", ""), appeal=("举报", "求助"), concern=(0.3, 0.4, 0.3), walkin=False),
    # ---- 矛盾纠纷 dispute (mediation) ------------------------------------------------------
    P("neighbour", "dispute", 4.0,
      ("和楼上邻居因为漏水的事吵架，协商不成", "{xiaoqu}小区邻居在楼道堆杂物，说了也不听，发生纠纷",
       "楼上邻居每天晚上拖椅子，上去沟通反被骂，邻里关系闹僵了"),
      ("希望有人出面调解。", "怕再闹下去会打起来。", ""),
      appeal=("求助",), concern=(0.2, 0.7, 0.1), police=("纠纷", "邻里纠纷")),
    P("property_dispute", "dispute", 2.5,
      ("和{xiaoqu}小区物业因为停车费发生纠纷", "物业把我家车锁了，和物业吵起来了，产生纠纷",
       "{xiaoqu}小区业主和物业因为维修费用闹纠纷"),
      ("双方都不让步。", "希望调解。", ""),
      appeal=("投诉", "求助"), concern=(0.2, 0.7, 0.1), police=("纠纷", "物业纠纷")),
    P("family", "dispute", 1.5,
      ("兄弟几个因为老人赡养问题闹矛盾，家庭纠纷调解不了", "夫妻吵架闹离婚，孩子抚养问题协商不下来",
       "老宅拆迁款分配，家里人发生纠纷"),
      ("", "希望有人调解。"), appeal=("求助",), concern=(0.1, 0.5, 0.4),
      police=("纠纷", "婚姻家庭纠纷"), walkin=True),
    P("land", "dispute", 1.0,
      ("和邻居因为宅基地边界发生纠纷", "村里土地承包的事和别人有纠纷"),
      ("已经吵了好几次。", ""), appeal=("求助",), concern=(0.1, 0.6, 0.3),
      police=("纠纷", "土地纠纷")),
    P("consumer_dispute", "dispute", 1.0,
      ("在{road}的{shop}吃饭，和老板因为结账发生纠纷", "装修公司拖工期，和老板发生纠纷"),
      ("", "希望调解。"), appeal=("投诉",), concern=(0.3, 0.7, 0.0), police=("纠纷", "消费纠纷"),
      walkin=False),
    # ---- 其他 other: what no rule knows -----------------------------------------------------
    P("vague", "other", 2.0,
      ("我想反映个情况，说不清楚归谁管", "{road}那边的事一直没人解决，你们帮忙问问",
       "对{road}的改造有个建议，希望听听居民的意见"),
      ("",), appeal=("建议", "咨询"), concern=(0.9, 0.1, 0.0)),
)

# What only the police keep (docs/channels.md): counted at the adapter, never a case.
POLICE_ONLY: tuple[tuple[str, str, str], ...] = (
    ("刑事", "盗窃", "报警人称家中被盗，丢失现金和首饰若干。"),
    ("刑事", "诈骗", "报警人称在网上刷单被骗，损失数千元。"),
    ("交通", "交通事故", "报警人称{road}路口两车相撞，有人受伤。"),
    ("治安", "殴打他人", "报警人称在{road}{landmark}被人殴打。"),
    ("火灾", "火情", "报警人称{road}{n}号楼冒烟起火。"),
)

# The centre's 直办 / 不予受理 material: what the operator answers or turns away.
EMERGENCIES = (
    "{road}{landmark}有人持刀伤人，快来人！",
    "{xiaoqu}小区有人要跳楼，快救人！",
)

OPENERS = {
    "hotline": ("市民来电反映：", "来电人反映，", "市民来电称，", "来电反映：", "市民反映，"),
    "app": ("", "", "", "你好，", "求助！", "有没有人管管，", "再反映一次，"),
    "walkin": ("居民到点反映：", "居民来窗口反映，", "网格员代居民反映：", "居民反映，"),
    "police": ("报警人称", "报警人称"),
}
CLOSERS = {
    "hotline": ("市民诉求：{request}", "{request}", "{request}", "请相关部门核实处理。"),
    "app": ("{request}", "{request}谢谢！", "都反映好几次了，一直没人管！", "{request}", ""),
    "walkin": ("{request}", "居民希望尽快解决。", "{request}"),
    "police": ("要求处理。", "要求民警到场处理，经了解属非警务纠纷。"),
}
SPOKEN = ("真的", "实在是", "太", "特别")
WHEN = ("", "", "", "最近", "这几天", "从上周开始", "今天早上发现", "昨天晚上", "这段时间")
WHO = {
    "hotline": ("", "", "", "附近居民称", "住户称", "商户称"),
    "app": ("", "", "", "我是附近住户，", "我家就住这附近，", "本人是业主，"),
    "walkin": ("", "", "附近住户称", "老人家说"),
}


def incident_slots(rng: random.Random, road: str, road2: str) -> dict[str, str]:
    """The facts of one incident at one road."""
    n = rng.randint(1, 188)
    return {
        "road": road,
        "road2": road2,
        "n": str(n),
        "b": f"{rng.randint(1, 24)}栋",
        "xiaoqu": rng.choice(XIAOQU),
        "landmark": rng.choice(LANDMARKS),
        "shop": rng.choice(SHOPS),
        "gym": rng.choice(GYMS),
        "food": rng.choice(FOODS),
        "seg": rng.choice(("中段", "南段", "北段", f"{n}号到{n + rng.randint(10, 60)}号那段",
                           f"靠近{rng.choice(LANDMARKS)}那一段")),
        "lamp": f"{rng.randint(1, 99):02d}-{rng.randint(1, 60):03d}",
        "lamp_state": rng.choice(("坏了好几天了", "一到晚上就不亮", "一闪一闪的", "整排都不亮",
                                  "白天亮晚上反而不亮")),
        "manhole_state": rng.choice(("破了一个大洞", "不见了", "松动了", "塌下去了一块")),
        "days": rng.choice(DURATIONS),
        "hours_off": rng.choice(("好几个小时", "一整晚", "快一天", "三个多小时")),
        "night": rng.choice(NIGHT),
        "bus": f"{rng.choice((1, 2, 3, 5, 6, 8, 11, 12, 15, 21, 23, 27, 33, 35))}路",
        "money": rng.choice(("两千多块", "五千元", "一万多", "三千八", "八百块")),
        "months": rng.choice(CN_NUM[1:6]),
    }


def spot_of(slots: dict[str, str], rng: random.Random) -> str:
    return rng.choice(
        (
            f"{slots['road']}{slots['n']}号门口",
            f"{slots['road']}{slots['xiaoqu']}小区门口",
            f"{slots['road']}和{slots['road2']}交叉口",
            f"{slots['road']}{slots['landmark']}旁边",
        )
    )


def person_name(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)
    return surname + rng.choice(("先生", "女士", *GIVEN))


def phone_number(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return f"0779-{rng.randint(2000000, 3999999)}"
    return f"1{rng.choice('35789')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"


def tell(incident: Incident, channel: str, rng: random.Random, first: bool) -> str:
    """One resident's telling of an incident on one channel.

    The core sentence (the facts) is shared by every report of the incident; the frame around
    it is this caller's. A second report keeps the core and changes the frame.
    """
    p = incident.problem
    cores = p.urgent_cores if incident.urgent and p.urgent_cores else p.cores
    core = cores[incident.core % len(cores)].format(**incident.slots)
    opener = rng.choice(OPENERS[channel])
    impact = rng.choice(p.impacts) if p.impacts else ""
    request = rng.choice(p.requests)
    closer = rng.choice(CLOSERS[channel]).format(request=request)
    if channel == "police":
        text = f"{opener}{core}，{closer}"
    else:
        if channel == "app" and rng.random() < 0.3:
            impact = impact.replace("很", rng.choice(SPOKEN), 1)
        if not first and rng.random() < 0.5:
            impact = rng.choice(("之前也有人反映过，", "不知道有没有人报过，", "")) + impact
        who = rng.choice(WHO[channel])
        template = cores[incident.core % len(cores)]
        # "Since last week" does not go with a fact that already says how long.
        timed = "{days}" in template or "{hours_off}" in template or "{months}" in template
        when = "" if incident.urgent or timed else rng.choice(WHEN)
        if rng.random() < 0.25 and len(p.impacts) > 1:
            impact = impact + rng.choice([i for i in p.impacts if i != impact])
        parts = [f"{opener}{who}{when}{core}，", impact, closer]
        text = "".join(s for s in parts if s)
    if incident.urgent and channel != "police":
        text += rng.choice(("情况紧急！", "请马上派人！", "非常危险！"))
    return text.replace("，，", "，").replace("。，", "。").strip("，")
