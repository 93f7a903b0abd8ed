"""The words the analysis reads column names and business questions by.

Kept apart from the logic: which names mark an amount that adds up, a level to average,
an event's number, a quantity that cannot be negative, and which words of a question go
together. Each list is a string of words, one group per line where groups matter.
"""

from __future__ import annotations


def words_of(text: str) -> frozenset[str]:
    """The words of a whitespace-separated list."""
    return frozenset(text.split())


# Money, quantities and counts: the measures whose sum over rows means something.
SUMMED_WORDS = words_of(
    """
    revenue revenues sales sale turnover gmv bookings amount amounts total totals
    cost costs spend spending expense expenses profit profits value paid payment
    payments fee fees tax taxes budget quantity qty units sold volume count counts cnt
    orders visits clicks impressions sessions installs downloads signups
    generation production output consumption passengers shipments shipped deaths cases
    births donations fare bill tip tips
    """
)
# Words that say a measure is a level, rate or measurement even beside a summed word.
# What one row (a person, a household, a country) has or is: incomes, salaries, wages,
# balances, credit limits, populations, ratings and ages are levels per row, whose sum over
# a table of people or of years is nobody's figure; their average is.
AVERAGED_WORDS = words_of(
    """
    income incomes salary salaries wage wages earnings earning pay balance balances limit
    population pop inhabitants rent rents wealth gdp gdppercap rating ratings grade grades
    price prices rate rates ratio score rating pct percent percentage share avg average
    mean median age margin discount satisfaction csat nps temperature temp duration hours
    minutes days time latency weight per percap capita index level speed pressure
    humidity humid dew dewp visib visibility latitude lat longitude lon lng
    mpg expectancy exp density elevation altitude height length width depth
    """
)
# A whole number named by one event noun is its number, not an amount: flight, invoice.
EVENT_NOUNS = words_of(
    """
    order transaction invoice ticket event receipt payment session call message flight
    trip booking shipment case account store route
    """
)
# Quantities that cannot be below zero.
NON_NEGATIVE = words_of(
    """
    quantity qty units price age count duration hours minutes weight stock inventory
    visits clicks impressions precipitation precip rain rainfall snow visibility visib
    distance population pop seats engines horsepower mpg
    """
)
# Quantities whose zero is not "none": no percentage or ratio of them means anything.
INTERVAL_WORDS = words_of("temperature temp tmax tmin dew dewp celsius fahrenheit year")
# Directions are angles on a circle: their average means nothing.
DIRECTION_WORDS = words_of("dir direction bearing heading")
# Measures given in per cent, so never above 100.
PERCENT_WORDS = words_of("pct percent percentage humidity humid")
# Words of a question that go together: each line is one group of synonyms.
SYNONYMS = tuple(
    words_of(line)
    for line in """
    revenue sales sale turnover income gmv bookings amount takings
    customer client buyer account consumer shopper user member
    product item sku article goods merchandise
    region area territory country market city state location geography store branch
    order transaction purchase invoice basket deal
    profit margin earnings
    cost expense spend spending budget
    quantity qty units volume
    ticket issue case request complaint incident support
    churn cancel cancellation attrition retention
    satisfaction csat rating score nps feedback
    resolution duration hours time delay latency response
    marketing campaign ad ads advertising promotion promo
    discount coupon rebate
    channel source medium platform
    employee staff agent rep representative salesperson
    price pricing
    growth grow growing trend increase decline decrease rise rising falling change changed changing
    compare comparison lag lags behind ahead lead leads leading highest lowest better worse
    link linked relate related relationship association associated correlate correlation
    anomaly spike outlier unusual drop
    recession crisis downturn slump fall fell peak trough recovery recover recovered rebound
    quality missing duplicate error errors clean trust reliable reliability accurate accuracy
    sensor sensors reading readings valid validity impossible wrong complete completeness
    incomplete gap gaps blank empty
    field column variable attribute
    segment segmentation group tier
    composition made mix share breakdown consist consists split
    concentration dependency dependence top biggest largest pareto
    category type class
    weather rain rainy rainfall wet precipitation precip drizzle snow
    temperature temp warm hot heat cold cool warmth
    wind windy gust gusts
    delay late lateness punctual punctuality wait
    airport origin dest destination
    departure dep departing
    arrival arr arriving
    airline carrier
    fuel economy mpg mileage consumption efficiency
    stock share equity ticker symbol
    employment job jobs employed payroll workforce
    life lifeexp expectancy longevity
    income gdp gdppercap wealth rich richer poor
    population pop inhabitant people
    electricity energy power generation
    renewable renewables solar
    fossil coal gas oil
    season seasonal seasonality month monthly summer winter spring autumn
    hour hourly clock morning evening night
    plane aircraft fleet tailnum
    seat seats size capacity
    engine engines motor cylinder cylinders
    manufacturer maker brand make
    country nation continent
    """.strip().splitlines()
)
# Words of a question that say nothing about the data (the verbs of "what drives sales?"
# ask for drivers; they name no column).
STOP = words_of(
    """
    has have had was were am being did done doing could may might much many any some very
    time times worst
    a an the and or of to in for on by with we our ours is are be been how what which why
    want wants need needs understand know see find data file files business company
    analysis analyse analyze insight insights improve help about this that it its from at
    as more most less best all per each across over between do does can should would i my
    me us their they them where when who not no into than then there these those will get
    make look show
    drive drives determine determines affect affects influence influences explain explains
    factor factors
    """
)
# Words of a question asking about missing data.
GAP_WORDS = words_of("missing incomplete complete completeness gap gaps blank empty null nulls")
